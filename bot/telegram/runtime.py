"""The Telegram channel of one bot process: the PTB application with its handlers, the inbox, the
paced sender, and what the runtime plugs in (notifier, media source, periodic jobs).

``telegram_runtime(settings, database, engine, replies)`` is entered in the web app's lifespan
(the webhook route finds the channel on ``app.state.telegram``) or by ``bot telegram poll``.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field

import structlog
from sqlalchemy.ext.asyncio import AsyncEngine
from telegram.error import TelegramError

from bot.channel import ChannelParts, PeriodicJob
from bot.dialogs.ports import HandlesTurns
from bot.dialogs.replies import Replies
from bot.jobs.pacing import SharedPacer
from bot.settings import Settings
from bot.storage.db import sessions
from bot.telegram.application import CHANNEL, Handlers, TelegramApp, build_application
from bot.telegram.inbox import Inbox
from bot.telegram.media import TelegramMedia
from bot.telegram.notifier import TelegramNotifier
from bot.telegram.sender import TelegramSender
from bot.telegram.tags import ChatTags

log = structlog.get_logger(__name__)

#: The inbox job picks up what a webhook's own processing left (a crash, a retry that is due).
INBOX_EVERY = 2.0
PURGE_EVERY = 3600.0
#: On shutdown, updates being handled get this long to finish; unfinished ones are handled again.
SHUTDOWN_GRACE = 10.0


@dataclass
class TelegramChannel:
    application: TelegramApp
    inbox: Inbox
    sender: TelegramSender
    parts: ChannelParts
    secret: str
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _starting: asyncio.Lock = field(default_factory=asyncio.Lock)

    def accepts(self, given: str | None) -> bool:
        """Whether a request carries the webhook secret set with ``setWebhook``."""
        return given is not None and hmac.compare_digest(
            given.encode("utf-8", "replace"), self.secret.encode("utf-8")
        )

    async def ready(self) -> None:
        """Initialise and start PTB (``getMe``) once; retried by the next batch if Telegram is down."""
        async with self._starting:
            if not self.application.running:
                await self.application.initialize()
                await self.application.start()

    def kick(self) -> None:
        """Handle what is due now, in the background (the webhook has already answered)."""
        task = asyncio.create_task(self._drain())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def idle(self) -> None:
        """Wait until the updates kicked so far are handled (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def close(self) -> None:
        with suppress(TimeoutError):
            await asyncio.wait_for(self.idle(), SHUTDOWN_GRACE)
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self.application.running:
            await self.application.stop()
        await self.application.shutdown()

    async def _drain(self) -> None:
        try:
            await self.inbox.process_due()
        except Exception as exc:  # the periodic inbox job tries again
            log.error("telegram.inbox_failed", error=type(exc).__name__)


def build_channel(
    settings: Settings, database: AsyncEngine, engine: HandlesTurns, replies: Replies
) -> TelegramChannel:
    if settings.telegram_token is None or settings.telegram_secret is None:
        raise ValueError("Telegram needs BOT_TELEGRAM_TOKEN and BOT_TELEGRAM_SECRET")
    secret = settings.telegram_secret.get_secret_value()
    application = build_application(settings)
    made = sessions(database)
    tags = ChatTags(secret)
    sender = TelegramSender(
        application.bot,
        SharedPacer(made),
        rate=settings.telegram_rate,
        chat_interval=settings.telegram_chat_interval,
    )
    Handlers(engine, sender, replies, tags).install(application)

    async def ready() -> None:
        await channel.ready()

    inbox = Inbox(made, application, ready=ready)
    parts = ChannelParts(
        name=CHANNEL,
        notifier=TelegramNotifier(sender, tags),
        media=TelegramMedia(application.bot),
        jobs=(
            PeriodicJob("telegram_inbox", inbox.process_due, INBOX_EVERY),
            PeriodicJob("telegram_inbox_purge", inbox.purge, PURGE_EVERY),
        ),
    )
    channel = TelegramChannel(application, inbox, sender, parts, secret)
    return channel


@asynccontextmanager
async def telegram_runtime(
    settings: Settings, database: AsyncEngine, engine: HandlesTurns, replies: Replies
) -> AsyncIterator[TelegramChannel]:
    """The channel, started; stopped on exit. Telegram being unreachable at start does not stop
    the bot: updates are stored meanwhile and handled once ``getMe`` succeeds."""
    channel = build_channel(settings, database, engine, replies)
    try:
        await channel.ready()
    except TelegramError as exc:
        log.warning("telegram.unavailable", error=f"{type(exc).__name__}: {exc}")
    try:
        yield channel
    finally:
        await channel.close()
