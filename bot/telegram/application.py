"""The python-telegram-bot ``Application`` and its handlers: each Telegram update a resident sends
becomes one ``Inbound`` for the dialog engine, and the engine's replies go back to the chat.

- Only private chats are served. In a group every member would read the resident's dispute and
  personal details, so group messages get no answer at all (the bot stays silent rather than
  invite people to talk there).
- ``user_id`` is the chat id. ``message_id`` is Telegram's message id (unique within a private
  chat, and the same when Telegram delivers the update again), or ``cb:<callback query id>`` for a
  tapped button: a redelivery is answered from the engine's record and steps nothing.
- Updates are not fetched by PTB's ``Updater``: the webhook route and ``bot telegram poll`` store
  each update first and hand it to ``process_update`` from the inbox (``bot.telegram.inbox``).
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any, TypeAlias

import structlog
from telegram import Chat, Message, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from bot.dialogs.messages import Attachment, Inbound, Location, Outbound
from bot.dialogs.ports import HandlesTurns
from bot.dialogs.replies import Replies
from bot.settings import Settings
from bot.telegram.render import render, resolve_callback
from bot.telegram.sender import TelegramSender
from bot.telegram.tags import ChatTags

log = structlog.get_logger(__name__)

CHANNEL = "telegram"
ALLOWED_UPDATES = ["message", "callback_query"]
#: Command words of the engine (bot/dialogs/parsing.py) that Telegram's commands stand for.
MENU, CANCEL = "菜单", "取消"

TelegramApp: TypeAlias = Application[Any, Any, Any, Any, Any, Any]
Callback: TypeAlias = Callable[[Update, ContextTypes.DEFAULT_TYPE], Coroutine[Any, Any, None]]


def file_base_url(api_url: str) -> str:
    """Where files are downloaded: ``…/bot`` becomes ``…/file/bot``, as on api.telegram.org."""
    base = api_url.rstrip("/")
    return f"{base.removesuffix('/bot')}/file/bot"


def build_application(settings: Settings) -> TelegramApp:
    if settings.telegram_token is None:
        raise ValueError("BOT_TELEGRAM_TOKEN is not set")
    return (
        Application.builder()
        .token(settings.telegram_token.get_secret_value())
        .base_url(settings.telegram_api_url)
        .base_file_url(file_base_url(settings.telegram_api_url))
        .updater(None)
        .job_queue(None)
        .build()
    )


class Handlers:
    """Telegram updates → ``Inbound`` → the engine → rendered replies, sent through the pacer."""

    def __init__(
        self,
        engine: HandlesTurns,
        sender: TelegramSender,
        replies: Replies,
        tags: ChatTags,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._sender = sender
        self._replies = replies
        self._tags = tags
        self._clock = clock

    def install(self, application: TelegramApp) -> None:
        private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
        application.add_handlers(
            [
                CommandHandler("start", self.on_start, filters=private),
                CommandHandler("help", self._command(MENU), filters=private),
                CommandHandler("cancel", self._command(CANCEL), filters=private),
                MessageHandler(private & filters.TEXT, self.on_text),
                MessageHandler(private & (filters.PHOTO | filters.Document.IMAGE), self.on_photo),
                MessageHandler(private & filters.LOCATION, self.on_location),
                CallbackQueryHandler(self.on_callback),
                # Last: whatever else a resident sends (stickers, voice, files, …).
                MessageHandler(private & ~filters.StatusUpdate.ALL, self.on_unsupported),
            ]
        )

    async def on_start(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = _message(update)
        await self._turn(message, MENU, before=(self._replies.say("telegram.welcome"),))

    def _command(self, text: str) -> Callback:
        async def handle(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
            await self._turn(_message(update), text)

        return handle

    async def on_text(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = _message(update)
        await self._turn(message, message.text or "")

    async def on_photo(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = _message(update)
        if message.photo:
            # Telegram sends several sizes of one photo: keep the largest.
            file_id = max(message.photo, key=lambda size: size.width * size.height).file_id
        else:
            file_id = message.document.file_id if message.document else ""  # an image sent as a file
        await self._turn(message, message.caption or "", attachments=(Attachment("image", file_id),))

    async def on_location(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = _message(update)
        if message.location is None:
            return
        venue = message.venue
        label = " ".join(p for p in (venue.title, venue.address) if p) if venue else None
        where = Location(message.location.latitude, message.location.longitude, label or None)
        await self._turn(message, "", location=where)

    async def on_callback(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None:
            return
        try:
            await query.answer()  # ends the button's spinner
        except TelegramError as exc:  # too old or already answered (a reprocessed update)
            log.info("telegram.callback_not_answered", error=type(exc).__name__)
        message = query.message
        if message is None or message.chat.type != ChatType.PRIVATE or query.data is None:
            return
        keyboard = message.reply_markup if isinstance(message, Message) else None
        # A button whose option cannot be read back any more shows the menu again.
        text = resolve_callback(query.data, keyboard) or MENU
        inbound = Inbound(CHANNEL, str(message.chat.id), f"cb:{query.id}", text, self._clock())
        await self._answer(message.chat, inbound, "button")

    async def on_unsupported(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = _message(update)
        log.info("telegram.unsupported", chat=self._tags(message.chat.id))
        await self._sender.send(message.chat.id, render([self._replies.say("telegram.unsupported")]))

    async def _turn(
        self,
        message: Message,
        text: str,
        *,
        before: Sequence[Outbound] = (),
        attachments: tuple[Attachment, ...] = (),
        location: Location | None = None,
    ) -> None:
        inbound = Inbound(
            CHANNEL,
            str(message.chat.id),
            str(message.message_id),
            text,
            message.date,
            attachments=attachments,
            location=location,
        )
        kind = "photo" if attachments else "location" if location else "text"
        await self._answer(message.chat, inbound, kind, before)

    async def _answer(self, chat: Chat, inbound: Inbound, kind: str, before: Sequence[Outbound] = ()) -> None:
        replies = await self._engine.handle(inbound)
        log.info("telegram.turn", chat=self._tags(chat.id), kind=kind, replies=len(replies))
        await self._sender.send(chat.id, render([*before, *replies]))


def _message(update: Update) -> Message:
    if update.message is None:  # the handlers' filters admit only new messages
        raise ValueError("not a message update")
    return update.message
