"""``POST /fetch`` with a ``notify_url``: refused with a clear 400 unless the rules allow it, and
carried to the downloader in the job message when they do."""

from __future__ import annotations

import pytest
from mypy_boto3_sqs import SQSClient

from chalicelib import bootstrap
from tests.conftest import ApiClient
from tests.test_releases_api import fetch, messages
from tests.test_releases_api import indexer as indexer
from tests.test_releases_api import movie as movie
from tests.test_releases_api import sqs as sqs
from tests.test_releases_api import upstream as upstream

HOOK = "https://hooks.example.com/movies?token=abc"


@pytest.fixture
def allowed(env: pytest.MonkeyPatch) -> None:
    env.setenv("NOTIFY_ALLOWED_HOSTS", "hooks.example.com, other.example.org")
    bootstrap.reset()


@pytest.mark.usefixtures("movie", "indexer", "allowed")
def test_an_allowed_notify_url_travels_with_the_job(
    api: ApiClient, sqs: tuple[SQSClient, str]
) -> None:
    response = fetch(api, {"mode": "auto", "notify_url": HOOK})

    assert response.status == 202
    [message] = messages(sqs)
    assert message["notify_url"] == HOOK
    assert "notify_url" not in response.json  # a URL may carry a receiver's token: not echoed
    stored = bootstrap.container().store.get_job(message["job_id"])
    assert stored is not None
    assert stored.notify_url == HOOK  # for a failure the downloader never gets to announce


@pytest.mark.usefixtures("movie", "indexer", "allowed")
@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://hooks.example.com/in", "https"),
        ("https://evil.example.net/in", "NOTIFY_ALLOWED_HOSTS"),
        ("https://127.0.0.1/in", "NOTIFY_ALLOWED_HOSTS"),
        ("https://169.254.169.254/latest/meta-data", "NOTIFY_ALLOWED_HOSTS"),
        ("http://localhost:8080/in", "https"),
        ("https://me:pw@hooks.example.com/in", "credentials"),
        ("not a url", "URL"),
    ],
)
def test_refused_notify_urls_are_invalid_input_and_nothing_is_queued(
    api: ApiClient, sqs: tuple[SQSClient, str], url: str, reason: str
) -> None:
    response = fetch(api, {"mode": "auto", "notify_url": url})

    assert response.status == 400
    assert response.json["code"] == "INVALID_INPUT"
    assert reason in response.json["error"]
    assert messages(sqs) == []


@pytest.mark.usefixtures("movie", "indexer")
def test_without_allowed_hosts_notifications_are_off(
    api: ApiClient, sqs: tuple[SQSClient, str]
) -> None:
    response = fetch(api, {"mode": "auto", "notify_url": HOOK})

    assert response.status == 400
    assert "not enabled" in response.json["error"]


@pytest.mark.usefixtures("movie", "indexer")
@pytest.mark.parametrize("value", [12, "", None])
def test_a_notify_url_must_be_a_string_when_given(
    api: ApiClient, sqs: tuple[SQSClient, str], value: object
) -> None:
    response = fetch(api, {"mode": "auto", "notify_url": value})

    if value is None:  # null means absent, as for release_id
        assert response.status == 202
        assert messages(sqs)[0]["notify_url"] is None
    else:
        assert response.status == 400
