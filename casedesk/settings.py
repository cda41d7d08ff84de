"""The desk's configuration: environment variables prefixed ``CASEDESK_`` (or a ``.env`` file).

Built by whoever starts a process (the CLI, a test) and passed down; nothing reads it at import.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The repository root: the default data directory is ``var/casedesk`` under it.
PROJECT_ROOT = Path(__file__).resolve().parent.parent

DEV_API_TOKEN = "dev-casedesk-token"  # noqa: S105 - the documented development default
DEV_SESSION_SECRET = "dev-casedesk-session-secret"  # noqa: S105 - likewise
MIN_SECRET_CHARS = 16


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CASEDESK_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Environment = Field(Environment.DEVELOPMENT, description="development or production")
    data_dir: Path = Field(
        PROJECT_ROOT / "var" / "casedesk", description="The SQLite database and the attachments"
    )
    database_url: str | None = Field(
        None, description="SQLAlchemy URL (postgresql://…); unset: SQLite file casedesk.db in data_dir"
    )
    database_schema: str = Field(
        "casedesk",
        pattern=r"^[a-z_][a-z0-9_]{0,62}$",
        description="PostgreSQL only: the schema that holds the desk's tables",
    )
    api_token: SecretStr | None = Field(
        None, description="Bearer token of the API; required in production (development: dev-casedesk-token)"
    )
    session_secret: SecretStr | None = Field(
        None, description="Signs the staff's session cookies; required in production"
    )
    case_prefix: str = Field("ZZ", pattern=r"^[A-Z]{1,8}$", description="Case numbers: ZZ2026-000123")
    timezone: str = Field("Asia/Shanghai", description="The centre's time zone (case-number year, pages)")
    host: str = Field("127.0.0.1", description="Address the desk binds to")
    port: int = Field(8100, ge=1, le=65535, description="Port the desk listens on")
    bot_webhook_url: str | None = Field(
        None, description="The bot's /backend/events: called when a feed moves (unset: the bot only polls)"
    )
    bot_webhook_secret: SecretStr | None = Field(
        None, description="Shared secret that signs the calls to bot_webhook_url"
    )
    secure_cookies: bool | None = Field(
        None, description="Send the session cookie over HTTPS only; unset: on in production"
    )

    @model_validator(mode="after")
    def _secrets(self) -> Settings:
        production = self.env is Environment.PRODUCTION
        for name, dev_default in (("api_token", DEV_API_TOKEN), ("session_secret", DEV_SESSION_SECRET)):
            value: SecretStr | None = getattr(self, name)
            if value is None and not production:
                setattr(self, name, SecretStr(dev_default))
                continue
            env_name = f"CASEDESK_{name.upper()}"
            if value is None:
                raise ValueError(f"{env_name} must be set in production")
            if production and (
                value.get_secret_value() == dev_default or len(value.get_secret_value()) < MIN_SECRET_CHARS
            ):
                raise ValueError(f"{env_name} must be a secret of at least {MIN_SECRET_CHARS} characters")
        return self

    @property
    def token(self) -> str:
        if self.api_token is None:  # pragma: no cover - the validator always sets it
            raise RuntimeError("api_token is unset")
        return self.api_token.get_secret_value()

    @property
    def secret(self) -> str:
        if self.session_secret is None:  # pragma: no cover - the validator always sets it
            raise RuntimeError("session_secret is unset")
        return self.session_secret.get_secret_value()

    @property
    def https_only(self) -> bool:
        return self.env is Environment.PRODUCTION if self.secure_cookies is None else self.secure_cookies

    @property
    def attachments_dir(self) -> Path:
        return self.data_dir / "attachments"
