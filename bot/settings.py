"""All configuration, read from environment variables prefixed ``BOT_`` and an optional ``.env``.

Settings are built by whoever starts a process (the CLI, the app factory, a test) and passed
down; nothing reads them at import time.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

#: The repository root: knowledge/, bot/nlu/data and models/ are found relative to it.
PROJECT_ROOT = Path(__file__).resolve().parent.parent


class Environment(StrEnum):
    DEVELOPMENT = "development"
    PRODUCTION = "production"


class WeChatMode(StrEnum):
    """How the official account's server configuration encrypts messages (消息加解密方式)."""

    PLAINTEXT = "plaintext"  # 明文: the signature does not cover the body; development only
    COMPATIBLE = "compatible"  # 兼容: both forms; we accept only what verifies as safe, or plaintext
    SAFE = "safe"  # 安全: AES-encrypted, verified with msg_signature; the production setting


class WeChatAccount(StrEnum):
    """What the official account may send on its own."""

    SUBSCRIPTION = "subscription"  # 订阅号 (unverified): passive replies only
    SERVICE = "service"  # 认证服务号: customer-service messages and template messages


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="BOT_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    env: Environment = Field(Environment.DEVELOPMENT, description="development or production")
    log_level: str = Field("INFO", description="Log level of the bot's own logs")
    data_dir: Path = Field(PROJECT_ROOT / "var", description="Where the embedded database and logs live")
    knowledge_dir: Path = Field(
        PROJECT_ROOT / "knowledge", description="Dispute types, urgent patterns, replies, FAQs"
    )

    http_host: str = Field("127.0.0.1", description="Address the bot's web server binds to")
    http_port: int = Field(8000, description="Port of the bot's web server (web chat, webhooks, admin)")
    database_url: str | None = Field(
        None, description="SQLAlchemy URL (postgresql://…); unset: SQLite file bot.db in BOT_DATA_DIR"
    )
    timezone: str = Field(
        "Asia/Shanghai", description="The centre's time zone (reference numbers, opening hours)"
    )

    # --- the case system ---
    backend_url: str | None = Field(
        None, description="Address of the centre's case system; unset: the bot runs the embedded case desk"
    )
    backend_token: SecretStr | None = Field(
        None, description="Bearer token for the case system; generated per run for the embedded desk"
    )
    backend_timeout: float = Field(10.0, gt=0, description="Seconds one call to the case system may take")
    backend_webhook_secret: SecretStr | None = Field(
        None,
        description="Shared secret of the case system's signed calls to /backend/events (a feed moved: "
        "read it now); unset: only the scheduled polls (generated per run for the embedded desk)",
    )
    casedesk_port: int = Field(8100, description="Port of the embedded case desk (127.0.0.1)")
    jobs: bool = Field(True, description="Run the background jobs (outbox, notifications, progress sync)")
    outbox_interval: float = Field(3.0, gt=0, description="Seconds between outbox flushes")
    notify_interval: float = Field(2.0, gt=0, description="Seconds between notification dispatches")
    sync_interval: float = Field(120.0, gt=0, description="Seconds between progress syncs")
    handoff_interval: float = Field(
        2.0, gt=0, description="Seconds between reads of the desk's handoff events"
    )

    # --- NLU (Rasa) ---
    nlu_url: str | None = Field(
        None,
        description="Address of a running Rasa server, or several separated by commas (parses are "
        "spread over them, with failover); unset: the bot starts and manages its own",
    )
    nlu_replicas: int = Field(
        1, ge=1, le=8, description="How many Rasa servers the bot starts when it manages its own"
    )
    nlu_token: SecretStr | None = Field(
        None, description="Rasa `--auth-token`; generated per run when the bot manages Rasa itself"
    )
    nlu_port: int = Field(5005, description="Port of the managed Rasa server (always bound to 127.0.0.1)")
    nlu_timeout: float = Field(3.0, gt=0, description="Seconds one parse request may take")
    nlu_retries: int = Field(1, ge=0, description="Extra attempts after a failed parse request")
    nlu_startup_timeout: float = Field(240.0, gt=0, description="Seconds to wait for Rasa to load a model")
    nlu_alarm_threshold: float = Field(
        0.5, ge=0, le=1, description="Danger model's alarm probability from which it alone raises an alarm"
    )
    nlu_ask_threshold: float = Field(
        0.14,
        ge=0,
        le=1,
        description="Danger model's alarm probability from which the bot asks whether the resident is safe",
    )
    nlu_check_threshold: float = Field(
        0.2,
        ge=0,
        le=1,
        description="Danger model's check probability from which the bot asks whether the resident is safe",
    )
    nlu_unsure_below: float = Field(
        0.35, ge=0, le=1, description="Intent confidence below which the bot confirms before acting"
    )
    nlu_breaker_failures: int = Field(
        2, ge=1, description="Failed parses in a row after which an NLU server is skipped for a while"
    )
    nlu_breaker_pause: float = Field(
        30.0, gt=0, description="Seconds an NLU server is skipped after repeated failures"
    )
    rasa_venv: Path = Field(
        PROJECT_ROOT / ".rasa-venv", description="The Python 3.10 environment that holds Rasa"
    )
    nlu_project_dir: Path = Field(
        PROJECT_ROOT / "bot" / "nlu", description="Rasa project: config.yml, data/, jieba_dict/"
    )
    model_dir: Path = Field(PROJECT_ROOT / "models", description="Where trained NLU models are kept")
    faq_threshold: float = Field(
        3.5, ge=0, description="FAQ retrieval score below which the bot says it is not sure"
    )
    max_message_chars: int = Field(
        1000, ge=10, description="Longer messages are cut to this length before classification"
    )

    # --- the volunteers' FAQ console (/admin) ---
    admin_session_secret: SecretStr | None = Field(
        None,
        description="Signs the console's session cookies; unset: generated once, kept in BOT_DATA_DIR",
    )
    admin_secure_cookies: bool | None = Field(
        None, description="Send the console's session cookie over HTTPS only; unset: on in production"
    )

    # --- inbound traffic ---
    max_request_bytes: int = Field(
        256 * 1024, ge=1024, description="Larger request bodies are refused with 413 on every route"
    )
    rate_limit_messages: int = Field(
        20, ge=1, description="Messages one resident may send per rate-limit window before a polite pause"
    )
    rate_limit_window: float = Field(60.0, gt=0, description="Seconds of the per-resident rate-limit window")

    # --- WeChat official account (off unless BOT_WECHAT_TOKEN is set) ---
    wechat_token: SecretStr | None = Field(
        None, description="Token of the account's server configuration; unset: WeChat is off"
    )
    wechat_app_id: str | None = Field(None, description="The official account's AppID")
    wechat_app_secret: SecretStr | None = Field(
        None, description="AppSecret, used only by the access_token refresher"
    )
    wechat_encoding_aes_key: SecretStr | None = Field(
        None, description="EncodingAESKey (43 characters), needed in safe and compatible modes"
    )
    wechat_mode: WeChatMode = Field(WeChatMode.SAFE, description="plaintext, compatible or safe")
    wechat_account: WeChatAccount = Field(
        WeChatAccount.SERVICE, description="subscription (passive replies only) or service"
    )
    wechat_api_url: str = Field("https://api.weixin.qq.com", description="Base address of WeChat's API")
    wechat_reply_budget: float = Field(
        4.0, gt=0, lt=5, description="Seconds a passive reply may take before the late-reply path"
    )
    wechat_timestamp_window: int = Field(
        300, ge=30, description="Seconds a signed request's timestamp may be off before it is refused"
    )
    wechat_template_id: str | None = Field(
        None, description="Template message id for notifications outside the 48-hour window"
    )
    wechat_template_fields: dict[str, str] = Field(
        default_factory=lambda: {"thing1": "title", "thing2": "detail", "time3": "time"},
        description="Template field → title, detail, time or reference (JSON)",
    )
    wechat_token_interval: float = Field(
        300.0, gt=0, description="Seconds between checks of the access_token's age (refreshed early)"
    )

    # --- Telegram (off unless BOT_TELEGRAM_TOKEN is set; see docs/privacy.md) ---
    telegram_token: SecretStr | None = Field(None, description="Bot token from @BotFather; unset: off")
    telegram_secret: SecretStr | None = Field(
        None, description="Webhook secret (X-Telegram-Bot-Api-Secret-Token); required with the token"
    )
    telegram_webhook_url: str | None = Field(
        None, description="Public HTTPS address of /telegram/webhook, for `bot telegram set-webhook`"
    )
    telegram_api_url: str = Field(
        "https://api.telegram.org/bot", description="Base address of the Bot API (PTB base_url)"
    )
    telegram_rate: float = Field(25.0, gt=0, description="Messages per second to Telegram, all processes")
    telegram_chat_interval: float = Field(
        1.0, ge=0, description="Seconds between messages to one chat, all processes"
    )

    @property
    def nlu_urls(self) -> tuple[str, ...]:
        """The Rasa servers of ``BOT_NLU_URL`` (empty: the bot manages its own)."""
        return tuple(u.strip() for u in (self.nlu_url or "").split(",") if u.strip())

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> Settings:
        if self.env is Environment.PRODUCTION and self.nlu_url and self.nlu_token is None:
            raise ValueError("BOT_NLU_TOKEN must be set in production when BOT_NLU_URL points to a server")
        if self.env is Environment.PRODUCTION and self.backend_url and self.backend_token is None:
            raise ValueError("BOT_BACKEND_TOKEN must be set in production when BOT_BACKEND_URL is set")
        if self.telegram_token is not None and self.telegram_secret is None:
            raise ValueError(
                "BOT_TELEGRAM_SECRET must be set with BOT_TELEGRAM_TOKEN (it guards the webhook)"
            )
        return self
