"""Deployed Lambdas read credentials from Secrets Manager ARNs at cold start (moto as AWS)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.logs import current_secrets, logger
from chalicelib.settings import load_settings, resolve_secret_arns
from tests.conftest import LogCapture

TOKEN = "tmdb-token-from-secrets-manager-91c2"


@pytest.fixture
def secrets(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):
        monkeypatch.setenv(name, "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "eu-west-1")
    for name in ("TMDB_API_KEY", "NZBGEEK_API_KEY"):
        # set, then delete: monkeypatch then restores the original state, whatever resolving writes
        monkeypatch.setenv(name, "placeholder")
        monkeypatch.delenv(name)
    with mock_aws():
        yield boto3.client("secretsmanager", region_name="eu-west-1")


def test_a_secret_arn_becomes_the_setting_and_is_scrubbed_from_logs(
    secrets: Any, monkeypatch: pytest.MonkeyPatch, logs: LogCapture
) -> None:
    arn = secrets.create_secret(Name="mod/tmdb", SecretString=TOKEN)["ARN"]
    monkeypatch.setenv("TMDB_API_KEY_SECRET_ARN", arn)

    settings = load_settings()
    logger.info(f"a careless line quoting {TOKEN}")

    assert settings.tmdb_api_key() == TOKEN
    assert TOKEN in current_secrets()
    assert TOKEN not in logs.text


def test_an_explicit_value_wins_over_the_arn(secrets: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    arn = secrets.create_secret(Name="mod/tmdb", SecretString=TOKEN)["ARN"]
    environ = {"TMDB_API_KEY": "set-by-hand", "TMDB_API_KEY_SECRET_ARN": arn}

    resolve_secret_arns(environ)

    assert environ["TMDB_API_KEY"] == "set-by-hand"


def test_an_unreadable_secret_leaves_the_setting_unset_and_says_which(
    secrets: Any, logs: LogCapture
) -> None:
    good = secrets.create_secret(Name="mod/tmdb", SecretString=TOKEN)["ARN"]
    environ = {
        "TMDB_API_KEY_SECRET_ARN": good,
        "NZBGEEK_API_KEY_SECRET_ARN": good.replace("mod/tmdb", "mod/missing"),
    }

    resolve_secret_arns(environ)

    assert environ["TMDB_API_KEY"] == TOKEN
    assert "NZBGEEK_API_KEY" not in environ
    (line,) = logs.lines("could not read a secret")
    assert line["setting"] == "NZBGEEK_API_KEY"


def test_only_credential_settings_are_resolved(secrets: Any) -> None:
    arn = secrets.create_secret(Name="mod/other", SecretString="https://evil.test")["ARN"]
    environ = {"TMDB_BASE_URL_SECRET_ARN": arn}

    resolve_secret_arns(environ)

    assert "TMDB_BASE_URL" not in environ
