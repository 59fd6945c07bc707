"""Deployed Lambdas read credentials from Secrets Manager ARNs at cold start (moto as AWS)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from chalicelib.logs import current_secrets, logger
from chalicelib.settings import load_settings, resolve_secret_arns
from sandbox.httpd import Reply, Request, StandIn
from tests.conftest import LogCapture

TOKEN = "tmdb-token-from-secrets-manager-91c2"
ROOT = Path(__file__).resolve().parent.parent


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


class SecretsExtension:
    """The AWS Parameters and Secrets Lambda Extension's loopback API, as AWS documents it."""

    def __init__(self, secrets: dict[str, str], session_token: str) -> None:
        def answer(request: Request) -> Reply:
            arn = request.query.get("secretId", "")
            if request.headers.get("x-aws-parameters-secrets-token") != session_token:
                return Reply(401)
            if request.path != "/secretsmanager/get" or arn not in secrets:
                return Reply(400)
            return Reply.json(200, {"ARN": arn, "SecretString": secrets[arn]})

        self.server = StandIn(answer, name="secrets-extension").start()

    @property
    def asked(self) -> list[str]:
        return [request.query.get("secretId", "") for request in self.server.requests]

    @property
    def port(self) -> int:
        return self.server.port


ARN = "arn:aws:secretsmanager:eu-west-1:000000000000:secret:mod/tmdb-AbCdEf"


def test_with_the_extension_secrets_come_over_loopback_and_boto3_is_never_loaded(
    tmp_path: Path,
) -> None:
    extension = SecretsExtension({ARN: TOKEN}, session_token="session-token-1")
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("TMDB_", "AWS_"))},
        "TMDB_API_KEY_SECRET_ARN": ARN,
        "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(extension.port),
        "AWS_SESSION_TOKEN": "session-token-1",
        "SQLITE_PATH": str(tmp_path / "jobs.sqlite3"),
    }
    probe = (
        "import sys; from chalicelib.settings import load_settings; "
        "print(load_settings().tmdb_api_key(), 'boto3' in sys.modules)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    extension.server.stop()

    assert done.stdout.split() == [TOKEN, "False"]
    assert extension.asked == [ARN]


def test_an_extension_that_refuses_leaves_the_setting_unset_and_says_which(
    logs: LogCapture,
) -> None:
    extension = SecretsExtension({ARN: TOKEN}, session_token="the-real-session-token")
    environ = {
        "TMDB_API_KEY_SECRET_ARN": ARN,
        "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT": str(extension.port),
        "AWS_SESSION_TOKEN": "a-stale-session-token",
    }

    resolve_secret_arns(environ)
    extension.server.stop()

    assert "TMDB_API_KEY" not in environ
    (line,) = logs.lines("could not read a secret")
    assert line["setting"] == "TMDB_API_KEY"
    assert "a-stale-session-token" not in logs.text
