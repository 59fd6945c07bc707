"""The D1 gateway Worker (infra/d1-gateway/worker.js) under miniflare's real workerd and D1.

What a caller notices: the REST API's envelope for both request forms, 401 without the token, 403 for
any statement the job store does not issue, 400 (in the envelope) for a malformed body, D1's errors as
``success: false`` without the parameters, and a batch that is a transaction.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from chalicelib.adapters.store.allowlist import allowlist, recorded_statements, shape
from chalicelib.adapters.store.executor import Statement
from chalicelib.errors import StorageError
from scripts.local_gateway import LocalGateway
from tests.fakes import d1
from tests.gateway import gateway_executor

QUERY = f"/client/v4/accounts/{d1.ACCOUNT}/d1/database/{d1.DATABASE}/query"
AUTH = {"Authorization": f"Bearer {d1.TOKEN}"}
SECRET_PARAM = "param-secret-do-not-echo"
INSERT = (
    "INSERT INTO jobs (job_id, movie_id, status, created_at, updated_at) VALUES (?, ?, ?, ?, ?) "
    "ON CONFLICT DO NOTHING"
)


def post(
    gateway: LocalGateway, body: Any, headers: dict[str, str] | None = None
) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return requests.post(
        gateway.url + QUERY, data=data, headers=AUTH if headers is None else headers, timeout=30
    )


def assert_error_envelope(response: requests.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status
    body: dict[str, Any] = response.json()
    assert body["success"] is False
    assert body["errors"][0]["code"] >= 1000
    assert isinstance(body["errors"][0]["message"], str)
    assert d1.TOKEN not in response.text
    return body


# -- the envelope ----------------------------------------------------------------------------------


def test_a_single_statement_answers_in_the_rest_envelope(gateway: LocalGateway) -> None:
    response = post(gateway, {"sql": INSERT, "params": ["j1", 550, "queued", "t", "t"]})

    body = response.json()
    assert response.status_code == 200
    assert (body["success"], body["errors"], body["messages"]) == (True, [], [])
    [result] = body["result"]
    assert result["success"] is True
    assert result["results"] == []
    assert result["meta"]["changes"] == 1
    assert gateway.query("SELECT job_id, movie_id FROM jobs") == [{"job_id": "j1", "movie_id": 550}]


def test_a_batch_answers_one_result_per_statement(gateway: LocalGateway) -> None:
    executor = gateway_executor(gateway)
    executor.execute([Statement(INSERT, ("j1", 550, "queued", "t", "t"))])

    rows = executor.execute(
        [
            Statement("SELECT * FROM jobs WHERE job_id = ?", ("j1",)),
            Statement("SELECT COUNT(*) AS total FROM watch_history"),
        ]
    )

    assert [r["job_id"] for r in rows[0]] == ["j1"]
    assert rows[1] == [{"total": 0}]
    assert executor.round_trips == 2


def test_a_batch_is_one_transaction(gateway: LocalGateway) -> None:
    """The second INSERT breaks NOT NULL: the first, already run, must be rolled back with it."""
    response = post(
        gateway,
        {
            "batch": [
                {"sql": INSERT, "params": ["j1", 550, "queued", "t", "t"]},
                {"sql": INSERT, "params": [SECRET_PARAM, 551, None, "t", "t"]},
            ]
        },
    )

    body = assert_error_envelope(response, 400)
    assert "NOT NULL" in body["errors"][0]["message"]
    assert SECRET_PARAM not in response.text
    assert gateway.query("SELECT COUNT(*) AS n FROM jobs") == [{"n": 0}]


def test_a_d1_error_reaches_the_executor_as_a_storage_error(gateway: LocalGateway) -> None:
    executor = gateway_executor(gateway, sleep=lambda seconds: None)

    with pytest.raises(StorageError) as raised:
        executor.execute([Statement(INSERT, (SECRET_PARAM, 551, None, "t", "t"))])

    assert "NOT NULL" in raised.value.message
    assert SECRET_PARAM not in raised.value.message
    assert executor.round_trips == 1  # a SQL error is final: not retried


# -- what the gateway refuses ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong"},
        {"Authorization": d1.TOKEN},
        {"Authorization": "Bearer "},
    ],
    ids=["missing", "wrong", "not-bearer", "empty"],
)
def test_a_missing_or_wrong_token_is_401(gateway: LocalGateway, headers: dict[str, str]) -> None:
    response = post(
        gateway, {"sql": "SELECT * FROM jobs WHERE job_id = ?", "params": ["x"]}, headers
    )

    assert_error_envelope(response, 401)


@pytest.mark.parametrize(
    "sql",
    [
        "DROP TABLE jobs",
        "SELECT * FROM jobs WHERE job_id = ?; DROP TABLE jobs",
        "SELECT * FROM sqlite_master",
        "DELETE FROM jobs",
        "UPDATE jobs SET status = ?, updated_at = (SELECT group_concat(job_id) FROM jobs) WHERE job_id = ?",
        "select * from jobs where job_id = ?",
    ],
)
def test_a_statement_the_store_never_issues_is_403(gateway: LocalGateway, sql: str) -> None:
    response = post(
        gateway,
        {
            "batch": [
                {"sql": "SELECT COUNT(*) AS total FROM watch_history"},
                {"sql": sql, "params": [SECRET_PARAM]},
            ]
        },
    )

    body = assert_error_envelope(response, 403)
    assert body["errors"][0]["message"] == "statement 2 is not one the job store issues"
    assert gateway.query("SELECT COUNT(*) AS n FROM sqlite_master WHERE name = 'jobs'") == [
        {"n": 1}
    ]


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        {"batch": []},
        {"batch": "SELECT 1"},
        {"sql": 42},
        {"sql": "SELECT * FROM jobs WHERE job_id = ?", "params": "x"},
        {"sql": "SELECT * FROM jobs WHERE job_id = ?", "params": [{"x": 1}]},
        {"sql": "SELECT * FROM jobs WHERE job_id = ?", "params": ["x"] * 101},
        {"batch": [{"sql": "SELECT COUNT(*) AS total FROM watch_history"}] * 101},
    ],
    ids=[
        "not-json",
        "list",
        "empty-batch",
        "batch-not-list",
        "sql-not-text",
        "params-not-list",
        "param-object",
        "too-many-params",
        "too-many-statements",
    ],
)
def test_a_malformed_body_is_400_in_the_envelope(gateway: LocalGateway, body: Any) -> None:
    assert_error_envelope(post(gateway, body), 400)


def test_an_oversized_body_is_refused_unread(gateway: LocalGateway) -> None:
    big = {"sql": "SELECT * FROM jobs WHERE job_id = ?", "params": ["x" * (1024 * 1024 + 1)]}

    assert_error_envelope(post(gateway, big), 413)


def test_other_paths_and_methods_are_refused(gateway: LocalGateway) -> None:
    assert_error_envelope(requests.post(gateway.url + "/admin", headers=AUTH, timeout=30), 404)
    assert_error_envelope(requests.get(gateway.url + QUERY, headers=AUTH, timeout=30), 405)


# -- the allow-list ---------------------------------------------------------------------------------


def test_every_statement_the_store_issues_matches_the_allowlist(tmp_path: Path) -> None:
    import re

    patterns = [re.compile(f"^(?:{p})$") for p in allowlist()]
    recorded = recorded_statements(tmp_path)

    assert recorded
    assert all(any(p.match(sql) for p in patterns) for sql in recorded)


def test_the_allowlist_lets_only_column_and_placeholder_lists_vary() -> None:
    import re

    pattern = re.compile(
        "^(?:" + shape("SELECT * FROM jobs WHERE status IN (?, ?) AND job_id = ?") + ")$"
    )

    assert pattern.match("SELECT * FROM jobs WHERE status IN (?) AND job_id = ?")
    assert pattern.match("SELECT * FROM jobs WHERE status IN (?, ?, ?, ?) AND job_id = ?")
    assert not pattern.match("SELECT * FROM jobs WHERE status IN (?, 1) AND job_id = ?")
    assert not pattern.match("SELECT * FROM jobs WHERE status IN (?) AND job_id = ? OR 1 = 1")
    update = re.compile(
        "^(?:" + shape("UPDATE jobs SET status = ?, worker = ? WHERE job_id = ?") + ")$"
    )
    assert update.match("UPDATE jobs SET progress = ? WHERE job_id = ?")
    assert not update.match("UPDATE jobs SET secret = ? WHERE job_id = ?")
    assert not update.match("UPDATE jobs SET job_id = ? WHERE job_id = ?")
