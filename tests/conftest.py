"""Shared fixtures: the contract-checking API client, TMDB fixtures and a controllable clock."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import responses
from chalice.test import Client
from moto import mock_aws
from moto.server import ThreadedMotoServer
from mypy_boto3_s3 import S3Client

from chalicelib import bootstrap
from chalicelib.adapters.objects import ObjectStore
from chalicelib.adapters.store import JobStore
from chalicelib.adapters.store.sqlite import SqliteExecutor
from chalicelib.cache import TTLCache
from chalicelib.logs import forget_registered_secrets, logger
from sandbox.nntp_server import NntpTestServer
from tests.contract import load_contract

ROOT = Path(__file__).resolve().parent.parent
#: The sandbox stack's ``stack`` and ``live`` fixtures (end-to-end, fault and security tests), and
#: the D1 gateway under miniflare (``gateway``: the job store's third backend).
pytest_plugins = ["tests.live", "tests.gateway"]

FIXTURES = Path(__file__).resolve().parent / "fixtures"
TMDB = "https://tmdb.test"
TMDB_KEY = "tmdb-secret-token-do-not-leak"
R2_ENDPOINT = "https://0123456789abcdef0123456789abcdef.r2.cloudflarestorage.com"
R2_BUCKET = "movies-test"
R2_SECRET = "r2-secret-access-key-do-not-leak"
#: A stage absent from .chalice/config.json: the test client then adds no stage variables, so the
#: settings below (temporary SQLite file, fake endpoints) are what the app sees.
TEST_STAGE = "pytest"


def tmdb_fixture(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / "tmdb" / f"{name}.json").read_text())
    return data


class ApiResponse:
    def __init__(self, status: int, headers: dict[str, str], body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    @property
    def json(self) -> Any:
        return json.loads(self.body)


class ApiClient:
    """Chalice's test client, with every response validated against the contract."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._contract = load_contract()

    def get(self, path: str, headers: dict[str, str] | None = None) -> ApiResponse:
        return self.request("GET", path, headers=headers)

    def post(
        self, path: str, body: str | bytes = b"", headers: dict[str, str] | None = None
    ) -> ApiResponse:
        return self.request("POST", path, body=body, headers=headers)

    def request(
        self,
        method: str,
        path: str,
        *,
        body: str | bytes = b"",
        headers: dict[str, str] | None = None,
    ) -> ApiResponse:
        payload = body.encode() if isinstance(body, str) else body
        raw = self._client.http.request(method, path, headers=headers or {}, body=payload)
        response = ApiResponse(raw.status_code, dict(raw.headers), raw.body)
        self._contract.check(method, path, response.status, response.headers, response.body)
        return response


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def _isolated_secrets() -> Iterator[None]:
    """Secrets registered by one test (NNTP passwords) must not scrub another test's logs."""
    yield
    forget_registered_secrets()


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[pytest.MonkeyPatch]:
    """Settings for tests: fake upstreams with recognisable secrets, a temporary job store."""
    monkeypatch.setenv("TMDB_API_KEY", TMDB_KEY)
    monkeypatch.setenv("TMDB_BASE_URL", TMDB)
    monkeypatch.setenv("JOB_STORE", "sqlite")
    monkeypatch.setenv("SQLITE_PATH", str(tmp_path / "jobs.sqlite3"))
    monkeypatch.setenv("R2_ENDPOINT_URL", R2_ENDPOINT)
    monkeypatch.setenv("R2_ACCESS_KEY_ID", "r2-access-key-id-test")
    monkeypatch.setenv("R2_SECRET_ACCESS_KEY", R2_SECRET)
    monkeypatch.setenv("R2_BUCKET", R2_BUCKET)
    for name in ("API_KEYS", "STAGE", "CF_ACCOUNT_ID", "D1_DATABASE_ID", "CF_API_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    bootstrap.reset()
    yield monkeypatch
    bootstrap.reset()


@pytest.fixture
def clock(env: pytest.MonkeyPatch) -> FakeClock:
    """Installs a clock the test can move into the process cache."""
    fake = FakeClock()
    bootstrap.container().cache = TTLCache(max_entries=2048, clock=fake)
    return fake


@pytest.fixture
def api(env: pytest.MonkeyPatch) -> Iterator[ApiClient]:
    from app import app

    with Client(app, stage_name=TEST_STAGE, project_dir=str(ROOT)) as client:
        yield ApiClient(client)


@pytest.fixture
def s3(monkeypatch: pytest.MonkeyPatch) -> Iterator[S3Client]:
    """moto's S3 standing in for R2 at R2's endpoint, with the bucket created."""
    monkeypatch.setenv("MOTO_S3_CUSTOM_ENDPOINTS", R2_ENDPOINT)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "r2-access-key-id-test")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", R2_SECRET)
    with mock_aws():
        client = boto3.client("s3", endpoint_url=R2_ENDPOINT, region_name="auto")
        location: Any = {"LocationConstraint": "auto"}  # R2's region, unknown to the stubs
        client.create_bucket(Bucket=R2_BUCKET, CreateBucketConfiguration=location)
        yield client


def objects_on(client: Any, bucket: str = R2_BUCKET) -> ObjectStore:
    """An ``ObjectStore`` over a given S3 client (moto's, or one wrapped to fail on purpose)."""
    return ObjectStore(
        bucket=bucket,
        endpoint_url=R2_ENDPOINT,
        access_key_id="",
        secret_access_key="",
        client=client,
    )


@pytest.fixture
def s3_server(env: pytest.MonkeyPatch) -> Iterator[str]:
    """A real S3-compatible HTTP endpoint on loopback (moto's server, as ``make run`` uses), for
    tests that must fetch signed URLs over HTTP. Returns the endpoint URL the app is set to."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    env.setenv("R2_ENDPOINT_URL", endpoint)
    env.setenv("R2_CREATE_BUCKET", "true")
    bootstrap.reset()
    try:
        yield endpoint
    finally:
        server.stop()


@pytest.fixture
def store(tmp_path: Path) -> JobStore:
    """A job store of the test's own: a fresh SQLite file, reads never cached."""
    return JobStore(SqliteExecutor(tmp_path / "jobs.sqlite3"), cache_seconds=0)


@pytest.fixture
def servers() -> Iterator[list[NntpTestServer]]:
    """NNTP stand-ins a test starts (append them); each is stopped afterwards."""
    started: list[NntpTestServer] = []
    yield started
    for server in started:
        server.stop()


@pytest.fixture
def upstream() -> Iterator[responses.RequestsMock]:
    """Mocked outside HTTP; a test fails if it leaves a registered call unused or calls anything else."""
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


class LogCapture:
    def __init__(self, stream: io.StringIO) -> None:
        self._stream = stream

    @property
    def text(self) -> str:
        return self._stream.getvalue()

    def lines(self, message: str | None = None) -> list[dict[str, Any]]:
        """The JSON log lines written so far, optionally only those with this message."""
        parsed = [json.loads(line) for line in self.text.splitlines() if line.startswith("{")]
        return [line for line in parsed if message is None or line.get("message") == message]


@pytest.fixture
def logs() -> Iterator[LogCapture]:
    """The service's JSON log lines, formatted exactly as in production."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger.addHandler(handler)
    try:
        yield LogCapture(stream)
    finally:
        logging.getLogger(logger.name).removeHandler(handler)
