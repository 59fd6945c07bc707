"""Developer tooling (never packaged into the Lambda)."""
