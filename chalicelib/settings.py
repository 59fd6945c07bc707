"""One settings object, read from the environment.

Names are fixed by the deployment (Terraform, ``.chalice/config.json``, the Fargate task definition), so
they are spelled out here as upper-case aliases. A malformed value is reported with the setting's name
and what was expected, never with the value itself: several settings are secrets.
"""

from __future__ import annotations

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict

from chalicelib.errors import ConfigurationError


class Settings(BaseSettings):
    """The service's configuration; every field maps to one environment variable of the same name."""

    model_config = SettingsConfigDict(
        case_sensitive=True,
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
    )

    STAGE: str = "local"
    LOG_LEVEL: str = "INFO"

    TMDB_API_KEY: SecretStr | None = None
    TMDB_BASE_URL: str = "https://api.themoviedb.org"
    TMDB_IMAGE_BASE_URL: str = "https://image.tmdb.org/t/p"
    TMDB_TIMEOUT_SECONDS: float = Field(default=5.0, gt=0, le=30)
    TMDB_LANGUAGE: str = "en-US"

    def tmdb_api_key(self) -> str:
        """The TMDB bearer token, or a configuration error naming the missing setting."""
        if self.TMDB_API_KEY is None:
            raise ConfigurationError(
                "TMDB_API_KEY is not set: discovery needs a TMDB API read access token"
            )
        return self.TMDB_API_KEY.get_secret_value()


def load_settings() -> Settings:
    """Read the environment, turning pydantic's report into one message that names each bad setting."""
    try:
        return Settings()
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_input=False, include_url=False):
            name = ".".join(str(part) for part in error["loc"]) or "settings"
            problems.append(f"{name}: {error['msg']}")
        raise ConfigurationError("invalid settings: " + "; ".join(problems)) from None
