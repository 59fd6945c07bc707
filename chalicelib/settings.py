"""One settings object, read from the environment.

Names are fixed by the deployment (Terraform, ``.chalice/config.json``, the Fargate task definition), so
they are spelled out here as upper-case aliases. A malformed value is reported with the setting's name
and what was expected, never with the value itself: several settings are secrets.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, MutableMapping
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from chalicelib.errors import ConfigurationError, validation_problems
from chalicelib.logs import SECRET_ENV_VARS, logger

if TYPE_CHECKING:
    from chalicelib.domain.notify import NotifyPolicy


class Settings(BaseModel):
    """The service's configuration; every field maps to one environment variable of the same name.

    A plain model read by ``from_environ`` rather than pydantic-settings: the names are exact (case
    sensitive), an empty value means unset, and nothing else of that library was used, while importing
    it cost a cold Lambda ~50 ms before its first answer.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    STAGE: str = "local"
    LOG_LEVEL: str = "INFO"

    TMDB_API_KEY: SecretStr | None = None
    TMDB_BASE_URL: str = "https://api.themoviedb.org"
    TMDB_IMAGE_BASE_URL: str = "https://image.tmdb.org/t/p"
    TMDB_TIMEOUT_SECONDS: float = Field(default=5.0, gt=0, le=30)
    TMDB_LANGUAGE: str = "en-US"

    JOB_STORE: Literal["sqlite", "d1"] = "sqlite"
    SQLITE_PATH: str = ".data/movies.sqlite3"
    CF_ACCOUNT_ID: str | None = None
    D1_DATABASE_ID: str | None = None
    CF_API_TOKEN: SecretStr | None = None
    CF_API_BASE_URL: str = "https://api.cloudflare.com/client/v4"
    JOB_CACHE_SECONDS: float = Field(default=3.0, ge=0, le=60)

    R2_ENDPOINT_URL: str | None = None
    R2_ACCESS_KEY_ID: SecretStr | None = None
    R2_SECRET_ACCESS_KEY: SecretStr | None = None
    R2_BUCKET: str = "movies-on-demand"
    #: Create the bucket on first use: for the local S3 stand-in only, never against R2.
    R2_CREATE_BUCKET: bool = False
    STREAM_URL_SECONDS: int = Field(default=4 * 3600, ge=60, le=7 * 24 * 3600)

    RETENTION_HOURS: int = Field(default=168, ge=1, le=24 * 365)
    STALE_JOB_MINUTES: int = Field(default=30, ge=5, le=24 * 60)
    PURGE_AFTER_DAYS: int = Field(default=30, ge=1, le=3650)

    API_KEYS: SecretStr | None = None

    NZBGEEK_API_KEY: SecretStr | None = None
    NZBGEEK_BASE_URL: str = "https://api.nzbgeek.info"
    NZBGEEK_TIMEOUT_SECONDS: float = Field(default=10.0, gt=0, le=30)
    MAX_RELEASE_GB: float = Field(default=100.0, gt=0)

    #: ``sqs`` (production: SQS → Lambda dispatcher → ECS RunTask) or ``local`` (make run: an
    #: in-process queue that starts the downloader as a subprocess).
    DISPATCH: Literal["sqs", "local"] = "local"
    JOBS_QUEUE_URL: str | None = None
    ECS_CLUSTER: str | None = None
    ECS_TASK_DEFINITION: str | None = None
    ECS_CONTAINER_NAME: str = "downloader"
    ECS_SUBNETS: str = ""
    ECS_SECURITY_GROUPS: str = ""
    ECS_ASSIGN_PUBLIC_IP: bool = True

    #: Signs job events sent to ``notify_url``s (downloader only); events need it to be sent.
    NOTIFY_SECRET: SecretStr | None = None
    #: Comma-separated hosts a ``notify_url`` may name (https only); empty: notifications are off.
    NOTIFY_ALLOWED_HOSTS: str = ""
    #: Local stage only: also allow a receiver on loopback (http or https), for the sandbox.
    NOTIFY_ALLOW_LOOPBACK: bool = False

    @model_validator(mode="after")
    def _loopback_only_locally(self) -> Settings:
        if self.NOTIFY_ALLOW_LOOPBACK and self.STAGE != "local":
            raise ValueError("NOTIFY_ALLOW_LOOPBACK is for STAGE=local only")
        return self

    @classmethod
    def from_environ(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """The fields set (non-empty) in ``environ`` (default: the process environment)."""
        env = os.environ if environ is None else environ
        return cls.model_validate({name: env[name] for name in cls.model_fields if env.get(name)})

    def tmdb_api_key(self) -> str:
        """The TMDB bearer token, or a configuration error naming the missing setting."""
        if self.TMDB_API_KEY is None:
            raise ConfigurationError(
                "TMDB_API_KEY is not set: discovery needs a TMDB API read access token"
            )
        return self.TMDB_API_KEY.get_secret_value()

    def d1_credentials(self) -> tuple[str, str, str]:
        """(account id, database id, API token) for ``JOB_STORE=d1``, or an error naming what's missing."""
        missing = [
            name
            for name in ("CF_ACCOUNT_ID", "D1_DATABASE_ID", "CF_API_TOKEN")
            if getattr(self, name) is None
        ]
        if missing or self.CF_ACCOUNT_ID is None or self.D1_DATABASE_ID is None:
            raise ConfigurationError(f"JOB_STORE=d1 needs {', '.join(missing)}")
        token = self.CF_API_TOKEN.get_secret_value() if self.CF_API_TOKEN else ""
        return self.CF_ACCOUNT_ID, self.D1_DATABASE_ID, token

    def r2_endpoint(self) -> str:
        """``R2_ENDPOINT_URL``, else the account's R2 endpoint derived from ``CF_ACCOUNT_ID``."""
        if self.R2_ENDPOINT_URL:
            return self.R2_ENDPOINT_URL
        if self.CF_ACCOUNT_ID:
            return f"https://{self.CF_ACCOUNT_ID}.r2.cloudflarestorage.com"
        raise ConfigurationError("object storage needs R2_ENDPOINT_URL or CF_ACCOUNT_ID")

    def r2_credentials(self) -> tuple[str, str]:
        if self.R2_ACCESS_KEY_ID is None or self.R2_SECRET_ACCESS_KEY is None:
            raise ConfigurationError(
                "object storage needs R2_ACCESS_KEY_ID and R2_SECRET_ACCESS_KEY"
            )
        return (
            self.R2_ACCESS_KEY_ID.get_secret_value(),
            self.R2_SECRET_ACCESS_KEY.get_secret_value(),
        )

    def nzbgeek_api_key(self) -> str:
        if self.NZBGEEK_API_KEY is None:
            raise ConfigurationError("NZBGEEK_API_KEY is not set: releases need an indexer API key")
        return self.NZBGEEK_API_KEY.get_secret_value()

    def jobs_queue_url(self) -> str:
        if not self.JOBS_QUEUE_URL:
            raise ConfigurationError("DISPATCH=sqs needs JOBS_QUEUE_URL")
        return self.JOBS_QUEUE_URL

    def ecs_target(self) -> tuple[str, str, list[str], list[str]]:
        """(cluster, task definition, subnets, security groups) for RunTask, or what is missing."""
        subnets = [part.strip() for part in self.ECS_SUBNETS.split(",") if part.strip()]
        groups = [part.strip() for part in self.ECS_SECURITY_GROUPS.split(",") if part.strip()]
        missing = [
            name
            for name, value in (
                ("ECS_CLUSTER", self.ECS_CLUSTER),
                ("ECS_TASK_DEFINITION", self.ECS_TASK_DEFINITION),
                ("ECS_SUBNETS", subnets),
            )
            if not value
        ]
        if missing or self.ECS_CLUSTER is None or self.ECS_TASK_DEFINITION is None:
            raise ConfigurationError(f"starting downloader tasks needs {', '.join(missing)}")
        return self.ECS_CLUSTER, self.ECS_TASK_DEFINITION, subnets, groups

    def notify_policy(self) -> NotifyPolicy:
        """Which ``notify_url``s may be called (``chalicelib/domain/notify.py``)."""
        from chalicelib.domain.notify import NotifyPolicy, parse_allowed_hosts

        return NotifyPolicy(
            parse_allowed_hosts(self.NOTIFY_ALLOWED_HOSTS),
            allow_loopback=self.NOTIFY_ALLOW_LOOPBACK,
        )

    def notify_secret(self) -> str:
        if self.NOTIFY_SECRET is None:
            raise ConfigurationError("NOTIFY_SECRET is not set: job events cannot be signed")
        return self.NOTIFY_SECRET.get_secret_value()

    def api_keys(self) -> tuple[str, ...]:
        """The accepted ``X-Api-Key`` values (comma-separated in ``API_KEYS``); empty = no auth."""
        if self.API_KEYS is None:
            return ()
        return tuple(k.strip() for k in self.API_KEYS.get_secret_value().split(",") if k.strip())


#: Deployed Lambdas get credentials as Secrets Manager ARNs in ``<SETTING>_SECRET_ARN``
#: (infra/terraform/locals.tf), never as plain environment values.
SECRET_ARN_SUFFIX = "_SECRET_ARN"


#: Set (to the extension's port) where the function has the AWS Parameters and Secrets Lambda
#: Extension layer (``var.secrets_extension_layer_arn``): secrets then come over loopback HTTP.
EXTENSION_PORT_ENV = "PARAMETERS_SECRETS_EXTENSION_HTTP_PORT"


def resolve_secret_arns(environ: MutableMapping[str, str] | None = None) -> None:
    """Read each ``<SETTING>_SECRET_ARN`` into ``<SETTING>`` once, at cold start.

    The value goes into the environment itself (not only into ``Settings``) because the log scrubber
    reads credentials from there, so a secret fetched here is scrubbed like one set by hand. A value
    already present wins (local runs, tests). Only the known credential settings are resolved, and a
    secret that cannot be read is logged by name and left unset: the endpoints that need it then
    answer 500 naming the setting, while health and the rest keep working.

    With the Parameters and Secrets extension the secrets are one loopback GET each and boto3 is
    never imported (importing it is the largest part of a cold start: ``bench/cold_start.py``), so
    routes that do not touch R2, SQS or ECS never load it; without the extension, boto3 reads them.
    """
    env = os.environ if environ is None else environ
    wanted = [
        name for name in SECRET_ENV_VARS if env.get(name + SECRET_ARN_SUFFIX) and not env.get(name)
    ]
    if not wanted:
        return
    read = _extension_reader(env) or _boto3_reader()
    for name in wanted:
        try:
            value = read(env[name + SECRET_ARN_SUFFIX])
        except Exception as exc:  # any failure means the same: the setting stays unset
            logger.error(
                "could not read a secret", extra={"setting": name, "error": type(exc).__name__}
            )
            continue
        if value:
            env[name] = value


def _boto3_reader() -> Callable[[str], str]:
    import boto3  # only deployed Lambdas without the extension get here

    client: Any = boto3.client("secretsmanager")
    return lambda arn: str(client.get_secret_value(SecretId=arn)["SecretString"])


def _extension_reader(env: Mapping[str, str]) -> Callable[[str], str] | None:
    """GET ``/secretsmanager/get`` on the extension's loopback port, authenticated by the
    function's session token, as AWS documents; None where the extension is not configured."""
    port, token = env.get(EXTENSION_PORT_ENV), env.get("AWS_SESSION_TOKEN")
    if not port or not token:
        return None
    import json
    import urllib.parse
    import urllib.request

    def read(arn: str) -> str:
        query = urllib.parse.urlencode({"secretId": arn})
        request = urllib.request.Request(
            f"http://localhost:{int(port)}/secretsmanager/get?{query}",
            headers={"X-Aws-Parameters-Secrets-Token": token},
        )
        with urllib.request.urlopen(request, timeout=5) as reply:
            return str(json.loads(reply.read())["SecretString"])

    return read


def load_settings() -> Settings:
    """Read the environment, turning pydantic's report into one message that names each bad setting."""
    resolve_secret_arns()
    try:
        return Settings.from_environ()
    except ValidationError as exc:
        problems = validation_problems(
            exc.errors(include_input=False, include_url=False), "settings"
        )
        raise ConfigurationError(f"invalid settings: {problems}") from None
