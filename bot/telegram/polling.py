"""Long polling, for development without a public HTTPS address: the same handlers as the
webhook, and every update goes through the inbox table too.

PTB's ``Updater`` is not used: it confirms updates to Telegram as soon as it fetches them. Here an
update is confirmed (the next ``getUpdates`` offset) only after it is stored, so a crash between
fetching and storing loses nothing: Telegram sends it again.
"""

from __future__ import annotations

import asyncio

import structlog
from telegram.error import Conflict, RetryAfter, TelegramError

from bot.telegram.application import ALLOWED_UPDATES
from bot.telegram.runtime import TelegramChannel
from bot.telegram.sender import retry_after_seconds

log = structlog.get_logger(__name__)

#: Seconds Telegram holds a getUpdates request open when there is nothing new; also how often
#: retries that became due are looked at when no update arrives.
LONG_POLL = 10
PAUSE_AFTER_ERROR = 5.0


async def poll(
    channel: TelegramChannel, *, stop: asyncio.Event | None = None, long_poll: int = LONG_POLL
) -> None:
    """Fetch, store, confirm and handle updates until ``stop`` is set (seen within ``long_poll``
    seconds) or the task is cancelled."""
    stop = stop or asyncio.Event()
    await channel.ready()
    bot = channel.application.bot
    await bot.delete_webhook()  # Telegram refuses getUpdates while a webhook is set
    log.info("telegram.polling")
    offset: int | None = None
    while not stop.is_set():
        try:
            updates = await bot.get_updates(offset=offset, timeout=long_poll, allowed_updates=ALLOWED_UPDATES)
        except RetryAfter as exc:
            await asyncio.sleep(retry_after_seconds(exc))
            continue
        except Conflict as exc:  # another poller, or a webhook set meanwhile
            log.error("telegram.poll_conflict", error=str(exc))
            await asyncio.sleep(PAUSE_AFTER_ERROR)
            continue
        except TelegramError as exc:
            log.warning("telegram.poll_failed", error=f"{type(exc).__name__}: {exc}")
            await asyncio.sleep(PAUSE_AFTER_ERROR)
            continue
        for update in updates:
            await channel.inbox.store(update.to_dict())
            offset = update.update_id + 1
        channel.kick()  # the new updates, and retries that became due
    await channel.idle()
