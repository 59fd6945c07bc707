"""Everything the Lambda needs: settings, errors, adapters to outside systems, and the use cases."""

__version__ = "0.1.0"
