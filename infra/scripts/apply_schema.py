r"""Apply schema.sql to the production D1 database, with the job store's own D1 client.

The statements are the ones every backend runs (``schema_statements()``: schema.sql split on ``;``),
sent as one batch over the same HTTP code path the test suite exercises against its D1 stand-in. Every
statement is ``CREATE ... IF NOT EXISTS``, so applying it again is safe; columns schema.sql gained
after the database was created (``ADDED_COLUMNS``) are then added where missing. Terraform runs this
(``terraform_data.d1_schema``) whenever schema.sql or the database changes; by hand:

    CF_ACCOUNT_ID=... D1_DATABASE_ID=... CLOUDFLARE_API_TOKEN=... \
        .venv/bin/python infra/scripts/apply_schema.py

The token (``CF_API_TOKEN``, else ``CLOUDFLARE_API_TOKEN``) needs D1 Edit. ``CF_API_BASE_URL`` defaults to
Cloudflare's API. Exit status 0 applied, 1 D1 refused or could not be reached, 2 misconfigured.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from chalicelib.adapters.store.d1 import D1Executor  # noqa: E402
from chalicelib.adapters.store.executor import add_new_columns, schema_statements  # noqa: E402
from chalicelib.errors import ApiError  # noqa: E402

DEFAULT_BASE_URL = "https://api.cloudflare.com/client/v4"


def main(environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    account_id = env.get("CF_ACCOUNT_ID", "")
    database_id = env.get("D1_DATABASE_ID", "")
    token = env.get("CF_API_TOKEN") or env.get("CLOUDFLARE_API_TOKEN") or ""
    missing = [
        name
        for name, value in (
            ("CF_ACCOUNT_ID", account_id),
            ("D1_DATABASE_ID", database_id),
            ("CF_API_TOKEN or CLOUDFLARE_API_TOKEN", token),
        )
        if not value
    ]
    if missing:
        sys.stderr.write(f"apply_schema: set {', '.join(missing)}\n")
        return 2
    statements = schema_statements()
    executor = D1Executor(
        account_id=account_id,
        database_id=database_id,
        api_token=token,
        base_url=env.get("CF_API_BASE_URL") or DEFAULT_BASE_URL,
    )
    try:
        executor.execute(statements)
        added = add_new_columns(executor)
    except ApiError as error:
        sys.stderr.write(f"apply_schema: {error.message}\n")
        return 1
    sys.stderr.write(f"apply_schema: {len(statements)} statements applied to D1 {database_id}\n")
    if added:
        sys.stderr.write(f"apply_schema: columns added: {', '.join(added)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
