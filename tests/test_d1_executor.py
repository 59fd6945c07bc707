"""D1 over HTTP: the envelope, retries on transient failures only, and errors without the token."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import responses

from chalicelib.adapters.store.d1 import D1Executor
from chalicelib.adapters.store.executor import Statement
from chalicelib.errors import StorageError
from tests.fakes import d1


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[d1.FakeD1]:
    with responses.RequestsMock() as mock:
        server = d1.FakeD1(tmp_path / "d1.sqlite3")
        server.install(mock)
        yield server


@pytest.fixture
def sleeps() -> list[float]:
    return []


@pytest.fixture
def executor(fake: d1.FakeD1, sleeps: list[float]) -> D1Executor:
    return D1Executor(
        account_id=d1.ACCOUNT,
        database_id=d1.DATABASE,
        api_token=d1.TOKEN,
        base_url=d1.BASE,
        sleep=sleeps.append,
    )


SELECT_ONE = Statement("SELECT ? AS answer", (42,))


def test_single_statement_uses_the_plain_body(executor: D1Executor, fake: d1.FakeD1) -> None:
    assert executor.execute([SELECT_ONE]) == [[{"answer": 42}]]
    assert fake.requests == [{"sql": "SELECT ? AS answer", "params": [42]}]


def test_several_statements_go_in_one_batch(executor: D1Executor, fake: d1.FakeD1) -> None:
    rows = executor.execute([SELECT_ONE, Statement("SELECT 'x' AS y")])

    assert rows == [[{"answer": 42}], [{"y": "x"}]]
    assert len(fake.requests) == 1
    assert len(fake.requests[0]["batch"]) == 2


@pytest.mark.parametrize(
    "failure",
    [d1.server_error(), requests.ConnectionError("reset"), requests.Timeout("slow")],
    ids=["500", "connection", "timeout"],
)
def test_transient_failures_are_retried_with_backoff(
    executor: D1Executor, fake: d1.FakeD1, sleeps: list[float], failure: object
) -> None:
    fake.fail_next(failure, failure)  # type: ignore[arg-type]

    assert executor.execute([SELECT_ONE]) == [[{"answer": 42}]]
    assert sleeps == [0.25, 0.5]
    assert executor.round_trips == 3


def test_rate_limit_waits_as_told_when_short(
    executor: D1Executor, fake: d1.FakeD1, sleeps: list[float]
) -> None:
    fake.fail_next(d1.rate_limited(2))

    assert executor.execute([SELECT_ONE]) == [[{"answer": 42}]]
    assert sleeps == [2.0]


def test_a_blocked_token_fails_fast_with_the_wait(
    executor: D1Executor, fake: d1.FakeD1, sleeps: list[float]
) -> None:
    """Cloudflare blocks a token for 5 minutes; a request cannot wait that long."""
    fake.fail_next(d1.rate_limited(300))

    with pytest.raises(StorageError, match="retry in 300 s") as caught:
        executor.execute([SELECT_ONE])
    assert caught.value.retry_after == 300
    assert sleeps == []


def test_sql_errors_are_not_retried(
    executor: D1Executor, fake: d1.FakeD1, sleeps: list[float]
) -> None:
    with pytest.raises(StorageError, match="no such table: nope"):
        executor.execute([Statement("SELECT * FROM nope")])
    assert executor.round_trips == 1
    assert sleeps == []


def test_persistent_outage_gives_up_with_d1s_message(
    executor: D1Executor, fake: d1.FakeD1, sleeps: list[float]
) -> None:
    fake.fail_next(*[d1.server_error("Network connection lost.")] * 4)

    with pytest.raises(StorageError, match=r"D1 unavailable: Network connection lost\."):
        executor.execute([SELECT_ONE])
    assert executor.round_trips == 4


def test_a_rejected_token_is_a_clear_error_without_the_token(fake: d1.FakeD1) -> None:
    executor = D1Executor(
        account_id=d1.ACCOUNT, database_id=d1.DATABASE, api_token="wrong-token", base_url=d1.BASE
    )

    with pytest.raises(StorageError, match="Authentication error") as caught:
        executor.execute([SELECT_ONE])
    assert "wrong-token" not in str(caught.value)


def test_a_failed_statement_inside_a_successful_envelope_is_an_error(
    executor: D1Executor, fake: d1.FakeD1
) -> None:
    body = (
        '{"success": true, "errors": [], "result": [{"success": false, '
        '"errors": [{"code": 7500, "message": "statement failed"}]}]}'
    )
    fake.fail_next((200, {"Content-Type": "application/json"}, body))

    with pytest.raises(StorageError, match="statement failed"):
        executor.execute([SELECT_ONE])


def test_unreadable_envelope_is_an_error(executor: D1Executor, fake: d1.FakeD1) -> None:
    fake.fail_next((200, {}, '{"success": true, "result": []}'))

    with pytest.raises(StorageError, match="unexpected result envelope"):
        executor.execute([SELECT_ONE])
