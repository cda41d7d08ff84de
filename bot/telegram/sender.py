"""Sending to a chat within Telegram's limits, for every bot process at once: each message takes a
slot of the shared pacer (about 30 messages a second in all, one a second per chat), and a flood
wait Telegram still asks for (``RetryAfter``) is honoured before the message is sent again."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import timedelta

import structlog
from telegram import Bot
from telegram.error import RetryAfter

from bot.jobs.pacing import SharedPacer
from bot.telegram.render import Message

log = structlog.get_logger(__name__)

#: Flood waits longer than this are not slept through here: the caller retries later instead.
MAX_FLOOD_WAIT = 30.0
ATTEMPTS = 3


def retry_after_seconds(error: RetryAfter) -> float:
    value: int | float | timedelta = error.retry_after
    return value.total_seconds() if isinstance(value, timedelta) else float(value)


class TelegramSender:
    def __init__(
        self,
        bot: Bot,
        pacer: SharedPacer,
        *,
        rate: float,
        chat_interval: float,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.bot = bot
        self._pacer = pacer
        self._overall = 1.0 / rate
        self._chat_interval = chat_interval
        self._sleep = sleep

    async def send(self, chat_id: int, messages: Sequence[Message]) -> None:
        """Send in order; raises the Bot API's error for the first message that fails."""
        for message in messages:
            await self._send_one(chat_id, message)

    async def _send_one(self, chat_id: int, message: Message) -> None:
        for attempt in range(1, ATTEMPTS + 1):
            await self._pacer.wait({"telegram": self._overall, f"telegram:{chat_id}": self._chat_interval})
            try:
                await self.bot.send_message(chat_id, message.text, reply_markup=message.keyboard)
            except RetryAfter as exc:
                wait = retry_after_seconds(exc)
                if attempt == ATTEMPTS or wait > MAX_FLOOD_WAIT:
                    raise
                log.warning("telegram.flood_wait", seconds=wait)
                await self._sleep(wait)
            else:
                return
