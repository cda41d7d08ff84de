"""What the WeChat channel plugs into the runtime: its notifier, its media source and the
access_token refresher job, built from settings."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.channel import ChannelParts, PeriodicJob
from bot.jobs.notify import HoldingNotifier
from bot.settings import Settings
from bot.storage.db import sessions
from bot.wechat.api import WeChatApi
from bot.wechat.media import WeChatMedia
from bot.wechat.notifier import CHANNEL, WeChatNotifier
from bot.wechat.token import JOB_NAME, StoredAccessToken, TokenRefresher

log = structlog.get_logger(__name__)


class WeChatNotConfigured(Exception):
    """The settings lack what a WeChat API call needs."""


def credentials(settings: Settings) -> tuple[str, str]:
    """AppID and AppSecret, or a clear error naming the settings to set."""
    if not settings.wechat_app_id or settings.wechat_app_secret is None:
        raise WeChatNotConfigured(
            "WeChat is not configured: set BOT_WECHAT_APP_ID and BOT_WECHAT_APP_SECRET "
            "(the official account's AppID and AppSecret)"
        )
    return settings.wechat_app_id, settings.wechat_app_secret.get_secret_value()


def wechat_api(settings: Settings, database: AsyncEngine) -> WeChatApi:
    """A client that reads the stored access_token; close it with ``aclose``."""
    return WeChatApi(settings.wechat_api_url, StoredAccessToken(sessions(database)))


def token_refresher(
    settings: Settings, made: async_sessionmaker[AsyncSession], api: WeChatApi
) -> TokenRefresher:
    app_id, secret = credentials(settings)
    return TokenRefresher(made, api, app_id, secret)


def wechat_parts(settings: Settings, database: AsyncEngine, *, api: WeChatApi | None = None) -> ChannelParts:
    """The channel's parts. Without AppID/AppSecret the account can only answer: notifications
    are held for the resident's next message and photos cannot be fetched."""
    try:
        credentials(settings)
    except WeChatNotConfigured as exc:
        log.warning("wechat.outbound_off", reason=str(exc))
        return ChannelParts(CHANNEL, HoldingNotifier())
    api = api or wechat_api(settings, database)
    made = sessions(database)
    refresher = token_refresher(settings, made, api)
    return ChannelParts(
        CHANNEL,
        WeChatNotifier.from_settings(settings, api, made),
        WeChatMedia(api),
        jobs=(PeriodicJob(JOB_NAME, refresher.run_once, settings.wechat_token_interval, at_start=True),),
    )


@asynccontextmanager
async def wechat_channel(settings: Settings, database: AsyncEngine) -> AsyncIterator[ChannelParts]:
    """``wechat_parts`` with its HTTP client closed on exit (for an ``AsyncExitStack``)."""
    api = wechat_api(settings, database)
    try:
        yield wechat_parts(settings, database, api=api)
    finally:
        await api.aclose()
