"""The D1 gateway Worker under miniflare, as a pytest fixture: the job store's third backend.

One miniflare per test module that uses it (workerd takes a second or two to start; per module, not
per session, so no child process outlives the modules that need it: some tests check that they leave
no child behind); ``gateway`` hands each test an empty database. Without node or the npm packages the
tests skip, saying why, except in CI (``CI=true``), where a missing engine must fail loudly rather
than quietly test less.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from chalicelib.adapters.store.d1 import D1Executor
from scripts.local_gateway import LocalGateway, miniflare_missing
from tests.fakes import d1


def require_miniflare() -> None:
    """Skip without node/miniflare, saying why; in CI fail instead (the engine must be there)."""
    missing = miniflare_missing()
    if missing:
        if os.environ.get("CI", "").lower() in {"1", "true", "yes"}:
            pytest.fail(f"CI must run the D1 gateway tests: {missing}")
        pytest.skip(f"D1 gateway under miniflare: {missing}")


@pytest.fixture(scope="module")
def _gateway_process() -> Iterator[LocalGateway]:
    require_miniflare()
    with LocalGateway(d1.TOKEN, admin=True) as gateway:
        yield gateway


@pytest.fixture
def gateway(_gateway_process: LocalGateway) -> LocalGateway:
    """The gateway on an empty database with the schema applied; the token is ``d1.TOKEN``."""
    _gateway_process.reset()
    return _gateway_process


def gateway_executor(gateway: LocalGateway, **options: object) -> D1Executor:
    """The production executor pointed at the gateway, as ``CF_API_BASE_URL`` would point it."""
    return D1Executor(
        account_id=d1.ACCOUNT,
        database_id=d1.DATABASE,
        api_token=d1.TOKEN,
        base_url=gateway.base_url,
        **options,  # type: ignore[arg-type]
    )


#: The D1s a test can put behind a socket (``tests/fault_servers.py``): pass as fixture params.
D1_BACKENDS = ["stand-in", "gateway"]


def d1_backend(request: pytest.FixtureRequest, tmp_path: Path) -> d1.ScriptedD1:
    """The D1 ``request.param`` names: our stand-in on a SQLite file, or the gateway on miniflare."""
    if request.param == "gateway":
        return d1.GatewayD1(request.getfixturevalue("gateway"))
    return d1.FakeD1(tmp_path / "d1.sqlite3")
