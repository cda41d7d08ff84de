"""Notifications to a resident's Telegram chat (case filed, progress, staff messages), sent
through the same pacer as replies, so every process together stays within Telegram's limits."""

from __future__ import annotations

import structlog
from telegram.error import BadRequest, Forbidden, InvalidToken, RetryAfter, TelegramError

from bot.dialogs.messages import Outbound
from bot.jobs.notify import Delivery, NotifyFailed, NotifyRetryable
from bot.telegram.render import render
from bot.telegram.sender import TelegramSender
from bot.telegram.tags import ChatTags

log = structlog.get_logger(__name__)


class TelegramNotifier:
    def __init__(self, sender: TelegramSender, tags: ChatTags) -> None:
        self._sender = sender
        self._tags = tags

    async def send(self, user_id: str, text: str) -> Delivery:
        try:
            chat_id = int(user_id)
        except ValueError as exc:
            raise NotifyFailed("not a Telegram chat id") from exc
        try:
            await self._sender.send(chat_id, render([Outbound(text)]))
        except (Forbidden, BadRequest) as exc:  # blocked the bot, chat gone: retrying cannot help
            log.warning("telegram.notify_refused", chat=self._tags(chat_id), error=str(exc))
            raise NotifyFailed(str(exc)) from exc
        except (RetryAfter, InvalidToken) as exc:  # a flood wait; a token the operator will fix
            raise NotifyRetryable(str(exc)) from exc
        except TelegramError as exc:  # network errors and time-outs
            raise NotifyRetryable(f"{type(exc).__name__}: {exc}") from exc
        return Delivery.SENT
