"""``make package``: the Chalice part of infra/terraform, generated from app.py.

Runs ``chalice package --pkg-format terraform`` on a copy of the app whose stage says Terraform manages
the IAM roles (``manage_iam_role: false``: the roles are in infra/terraform/lambda.tf and
chalice_override.tf attaches one to each function), then moves ``chalice.tf.json`` and
``deployment.zip`` into infra/terraform/, where Terraform merges chalice_override.tf into them. It
also writes ``d1_gateway_allowlist.json``: the statements the job store issues, which the D1 gateway
Worker (d1_gateway.tf) runs and nothing else, generated from chalicelib/adapters/store. The
repository's .chalice/config.json is not touched.

Usage: ``python infra/scripts/package.py [--stage prod]`` (the interpreter of the project's .venv,
which has chalice). ``CORS_ALLOW_ORIGIN`` from the environment is baked into the API Gateway preflight
responses, as ``chalice package`` always does.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chalicelib.adapters.store.allowlist import write_allowlist  # noqa: E402

TERRAFORM = ROOT / "infra" / "terraform"
BUILD = TERRAFORM / "chalice"
OUTPUTS = ("chalice.tf.json", "deployment.zip")
ALLOWLIST = TERRAFORM / "d1_gateway_allowlist.json"
#: Chalice needs some role ARN when it does not manage the role; the override replaces it.
PLACEHOLDER_ROLE = "arn:aws:iam::000000000000:role/replaced-by-chalice-override"


def prepare_source(stage: str) -> Path:
    """A copy of what Chalice packages (app.py, chalicelib/, requirements.txt) with the IAM switch."""
    source = BUILD / "src"
    source.mkdir(parents=True, exist_ok=True)
    # Keep source/.chalice/deployments between runs: Chalice caches the built dependencies there.
    shutil.rmtree(source / "chalicelib", ignore_errors=True)
    shutil.copy2(ROOT / "app.py", source / "app.py")
    shutil.copy2(ROOT / "requirements.txt", source / "requirements.txt")
    shutil.copytree(
        ROOT / "chalicelib",
        source / "chalicelib",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc"),
    )
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    if stage not in config.get("stages", {}):
        raise SystemExit(f"error: .chalice/config.json has no stage {stage!r}")
    config["stages"][stage].update({"manage_iam_role": False, "iam_role_arn": PLACEHOLDER_ROLE})
    (source / ".chalice").mkdir(exist_ok=True)
    (source / ".chalice" / "config.json").write_text(json.dumps(config, indent=2) + "\n")
    return source


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", default="prod", help="Chalice stage to package (default prod)")
    parser.add_argument(
        "--chalice",
        default=str(Path(sys.executable).with_name("chalice")),
        help="the chalice executable (default: next to this Python)",
    )
    args = parser.parse_args(argv)

    source = prepare_source(args.stage)
    out = BUILD / "out"
    shutil.rmtree(out, ignore_errors=True)
    env = dict(os.environ)
    # Chalice refuses to run without a region; the generated file reads the real one from the provider.
    if not env.get("AWS_REGION") and not env.get("AWS_DEFAULT_REGION"):
        env["AWS_DEFAULT_REGION"] = "us-east-1"
    command = [
        args.chalice,
        "--project-dir",
        str(source),
        "package",
        "--stage",
        args.stage,
        "--pkg-format",
        "terraform",
        str(out),
    ]
    subprocess.run(command, check=True, env=env)
    for name in OUTPUTS:
        shutil.move(str(out / name), str(TERRAFORM / name))
    write_allowlist(ALLOWLIST)
    written = ", ".join(
        str(path.relative_to(ROOT)) for path in [*(TERRAFORM / n for n in OUTPUTS), ALLOWLIST]
    )
    sys.stdout.write(f"package: wrote {written}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
