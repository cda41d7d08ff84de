"""A fake of Telegram's Bot API on loopback, speaking its real HTTP protocol: methods under
``/bot<token>/<method>`` with form-encoded parameters (JSON-encoded where they are objects), the
``{"ok": …}`` envelope with ``error_code``/``description``, 429 with ``parameters.retry_after``,
and file downloads under ``/file/bot<token>/<file_path>``.

What it enforces, as Telegram does: the token; message texts of 1-4096 UTF-16 units; inline
keyboards whose buttons have a text and either ``callback_data`` of at most 64 bytes or an
http(s) ``url``; a callback query answered once; ``getUpdates`` refused while a webhook is set.

It plays the residents too: ``fake.chat(chat_id)`` writes updates as Telegram would send them
(``chat.says("你好")``, ``chat.sends_photo()``, ``chat.taps(message, "登记纠纷")``), with update ids
and message ids that follow one another, message ids shared with the bot's messages in that chat.

Every accepted message is in ``fake.sent`` with the moment it arrived (``time.monotonic``), so
a test compares the spacing the fake saw rather than timing the code under test.

Use the ``fake_telegram`` fixture; ``fake.configure(settings)`` points the bot at it.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest_asyncio
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.settings import Settings
from tests.loopback import serve

TOKEN = "7000000001:AAFakeTokenForTheMediationBotTests0"
SECRET = "fake-webhook-secret-0123456789"
BOT_USER = {
    "id": 7000000001,
    "is_bot": True,
    "first_name": "调解助手",
    "username": "mediation_test_bot",
    "can_join_groups": False,
    "can_read_all_group_messages": False,
    "supports_inline_queries": False,
}
MAX_TEXT = 4096
MAX_CALLBACK_BYTES = 64
WAIT_DEADLINE = 60.0


@dataclass
class Sent:
    """A message Telegram accepted from the bot."""

    chat_id: int
    text: str
    reply_markup: dict[str, Any] | None
    message_id: int
    at: float  # time.monotonic() when the fake received it
    payload: dict[str, Any] = field(default_factory=dict)  # the Message object returned

    @property
    def buttons(self) -> list[str]:
        rows = (self.reply_markup or {}).get("inline_keyboard", [])
        return [button["text"] for row in rows for button in row]


@dataclass
class Failure:
    status: int
    description: str
    retry_after: int | None = None


class FakeTelegram:
    def __init__(self, *, token: str = TOKEN) -> None:
        self.token = token
        self.url = ""
        self.sent: list[Sent] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.answered: list[str] = []
        self.refused: list[tuple[str, float]] = []  # (method, time.monotonic()) of injected failures
        self.webhook: dict[str, Any] | None = None
        self.blocked: set[int] = set()  # residents who blocked the bot (403)
        self.gone: set[int] = set()  # chats Telegram does not know (400 chat not found)
        self.files: dict[str, tuple[str, bytes]] = {}  # file_id -> (file_path, content)
        self._failures: dict[str, list[Failure]] = {}
        self._updates: list[dict[str, Any]] = []
        self._new_update = asyncio.Event()
        self._update_ids = itertools.count(480_000_000 + secrets.randbelow(1_000_000))
        self._message_ids: dict[int, itertools.count[int]] = {}
        self._sent_changed = asyncio.Condition()

    # --- set-up and assertions ---

    def configure(self, settings: Settings, **more: Any) -> Settings:
        """Settings that point the bot's Telegram channel at this fake."""
        update: dict[str, Any] = {
            "telegram_token": SecretStr(self.token),
            "telegram_secret": SecretStr(SECRET),
            "telegram_api_url": f"{self.url}/bot",
            "telegram_webhook_url": "https://bot.example.org/telegram/webhook",
        }
        return settings.model_copy(update={**update, **more})

    def fail(self, method: str, status: int = 500, description: str = "Internal Server Error", *,
             times: int = 1, retry_after: int | None = None) -> None:  # fmt: skip
        """The next ``times`` calls of ``method`` fail (500, or 429 with ``retry_after``)."""
        self._failures.setdefault(method, []).extend([Failure(status, description, retry_after)] * times)

    def chat(self, chat_id: int | None = None, *, kind: str = "private") -> Chat:
        return Chat(self, chat_id if chat_id is not None else 100_000_000 + secrets.randbelow(10**9), kind)

    def sent_to(self, chat_id: int) -> list[Sent]:
        return [s for s in self.sent if s.chat_id == chat_id]

    async def wait_for_sent(self, chat_id: int, count: int) -> list[Sent]:
        """Wait until ``count`` messages reached this chat (a generous deadline, not a measure)."""
        async with asyncio.timeout(WAIT_DEADLINE), self._sent_changed:
            await self._sent_changed.wait_for(lambda: len(self.sent_to(chat_id)) >= count)
        return self.sent_to(chat_id)

    def queue_update(self, update: dict[str, Any]) -> None:
        """An update for ``getUpdates`` (polling)."""
        self._updates.append(update)
        self._new_update.set()

    def next_update_id(self) -> int:
        return next(self._update_ids)

    def next_message_id(self, chat_id: int) -> int:
        return next(self._message_ids.setdefault(chat_id, itertools.count(1)))

    def add_file(self, file_id: str, content: bytes, file_path: str = "photos/file_0.jpg") -> None:
        self.files[file_id] = (file_path, content)

    # --- the HTTP side ---

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/bot{token}/{method}", self._method, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self._download, methods=["GET"]),
            ]
        )

    async def _method(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.path_params["method"]
        params = {k: v for k, v in (await request.form()).items() if isinstance(v, str)}
        self.calls.append((method, params))
        queued = self._failures.get(method)
        if queued:
            failure = queued.pop(0)
            self.refused.append((method, time.monotonic()))
            return _error(failure.status, failure.description, failure.retry_after)
        handler = getattr(self, f"_api_{method}", None)
        if handler is None:
            return _error(404, "Not Found")
        result: Response = await handler(params)
        return result

    async def _download(self, request: Request) -> Response:
        if request.path_params["token"] != self.token:
            return _error(401, "Unauthorized")
        for file_path, content in self.files.values():
            if file_path == request.path_params["path"]:
                return Response(content, media_type="application/octet-stream")
        return _error(404, "Not Found")

    async def _api_getMe(self, _params: dict[str, str]) -> Response:
        return _ok(BOT_USER)

    async def _api_sendMessage(self, params: dict[str, str]) -> Response:
        chat_id = int(params["chat_id"])
        text = params.get("text", "")
        if chat_id in self.blocked:
            return _error(403, "Forbidden: bot was blocked by the user")
        if chat_id in self.gone:
            return _error(400, "Bad Request: chat not found")
        if not text.strip():
            return _error(400, "Bad Request: message text is empty")
        if len(text.encode("utf-16-le")) // 2 > MAX_TEXT:
            return _error(400, "Bad Request: message is too long")
        markup = json.loads(params["reply_markup"]) if "reply_markup" in params else None
        refused = _keyboard_error(markup)
        if refused:
            return _error(400, f"Bad Request: {refused}")
        message = {
            "message_id": self.next_message_id(chat_id),
            "from": BOT_USER,
            "chat": {"id": chat_id, "type": "private", "first_name": "居民"},
            "date": int(time.time()),
            "text": text,
            **({"reply_markup": markup} if markup else {}),
        }
        async with self._sent_changed:
            self.sent.append(Sent(chat_id, text, markup, message["message_id"], time.monotonic(), message))
            self._sent_changed.notify_all()
        return _ok(message)

    async def _api_answerCallbackQuery(self, params: dict[str, str]) -> Response:
        query_id = params["callback_query_id"]
        if query_id in self.answered:
            return _error(
                400, "Bad Request: query is too old and response timeout expired or query ID is invalid"
            )
        self.answered.append(query_id)
        return _ok(True)

    async def _api_setWebhook(self, params: dict[str, str]) -> Response:
        if not params.get("url", "").startswith("https://"):
            return _error(400, "Bad Request: bad webhook: An HTTPS URL must be provided for webhook")
        self.webhook = {
            "url": params["url"],
            "secret_token": params.get("secret_token"),
            "allowed_updates": json.loads(params.get("allowed_updates", "[]")),
        }
        return _ok(True)

    async def _api_deleteWebhook(self, _params: dict[str, str]) -> Response:
        self.webhook = None
        return _ok(True)

    async def _api_getFile(self, params: dict[str, str]) -> Response:
        found = self.files.get(params["file_id"])
        if found is None:
            return _error(400, "Bad Request: invalid file_id")
        file_path, content = found
        return _ok(
            {
                "file_id": params["file_id"],
                "file_unique_id": f"u{abs(hash(params['file_id'])) % 10**8}",
                "file_size": len(content),
                "file_path": file_path,
            }
        )

    async def _api_getUpdates(self, params: dict[str, str]) -> Response:
        if self.webhook is not None:
            return _error(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(params.get("offset", "0"))
        self._updates = [u for u in self._updates if u["update_id"] >= offset]  # confirmed ones go
        if not self._updates:
            self._new_update.clear()
            try:
                async with asyncio.timeout(float(params.get("timeout", "0"))):
                    await self._new_update.wait()
            except TimeoutError:
                pass
        return _ok(self._updates[: int(params.get("limit", "100"))])


@dataclass
class Chat:
    """A resident's chat with the bot, writing updates as Telegram sends them."""

    fake: FakeTelegram
    id: int
    kind: str = "private"

    @property
    def user(self) -> dict[str, Any]:
        return {"id": self.id, "is_bot": False, "first_name": "居民", "language_code": "zh-hans"}

    def _message(self, **content: Any) -> dict[str, Any]:
        chat = {"id": self.id, "type": self.kind, "first_name": "居民"}
        if self.kind != "private":
            chat = {"id": self.id, "type": self.kind, "title": "业主群"}
        return {
            "update_id": self.fake.next_update_id(),
            "message": {
                "message_id": self.fake.next_message_id(self.id),
                "from": self.user,
                "chat": chat,
                "date": int(time.time()),
                **content,
            },
        }

    def says(self, text: str) -> dict[str, Any]:
        if text.startswith("/"):
            command = text.split()[0]
            return self._message(
                text=text, entities=[{"type": "bot_command", "offset": 0, "length": len(command)}]
            )
        return self._message(text=text)

    def sends_photo(self, file_id: str | None = None, caption: str | None = None) -> dict[str, Any]:
        """A photo in three sizes, as Telegram sends it; the largest is ``file_id``."""
        file_id = file_id or f"AgACAgUAAxkBAAI{secrets.token_hex(12)}"
        sizes = [
            {
                "file_id": f"{file_id}-s",
                "file_unique_id": "AQADs",
                "width": 90,
                "height": 67,
                "file_size": 1100,
            },
            {
                "file_id": f"{file_id}-m",
                "file_unique_id": "AQADm",
                "width": 320,
                "height": 240,
                "file_size": 15000,
            },
            {"file_id": file_id, "file_unique_id": "AQADx", "width": 1280, "height": 960, "file_size": 98000},
        ]
        return self._message(photo=sizes, **({"caption": caption} if caption else {}))

    def shares_location(
        self, latitude: float, longitude: float, venue: tuple[str, str] | None = None
    ) -> dict[str, Any]:
        location = {"latitude": latitude, "longitude": longitude}
        if venue is None:
            return self._message(location=location)
        title, address = venue
        return self._message(
            location=location, venue={"location": location, "title": title, "address": address}
        )

    def sends_sticker(self) -> dict[str, Any]:
        return self._message(
            sticker={
                "file_id": "CAACAgIAAxkBAAIBsticker", "file_unique_id": "AgADsticker", "type": "regular",
                "width": 512, "height": 512, "is_animated": False, "is_video": False, "emoji": "👍",
            }
        )  # fmt: skip

    def sends_voice(self) -> dict[str, Any]:
        return self._message(
            voice={"file_id": "AwACAgUAAxkBAAIvoice", "file_unique_id": "AgADvoice", "duration": 4}
        )

    def taps(self, message: Sent, text: str) -> dict[str, Any]:
        """A tap on the button ``text`` of a message the bot sent."""
        data = next(
            button["callback_data"]
            for row in (message.reply_markup or {}).get("inline_keyboard", [])
            for button in row
            if button["text"] == text
        )
        return {
            "update_id": self.fake.next_update_id(),
            "callback_query": {
                "id": str(secrets.randbelow(10**18)),
                "from": self.user,
                "message": message.payload,
                "chat_instance": "-1234567890123456789",
                "data": data,
            },
        }


def _ok(result: Any) -> JSONResponse:
    return JSONResponse({"ok": True, "result": result})


def _error(status: int, description: str, retry_after: int | None = None) -> JSONResponse:
    body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
    if retry_after is not None:
        body["parameters"] = {"retry_after": retry_after}
    return JSONResponse(body, status_code=status)


def _keyboard_error(markup: Any) -> str | None:
    if markup is None:
        return None
    rows = markup.get("inline_keyboard") if isinstance(markup, dict) else None
    if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
        return "can't parse inline keyboard button: InlineKeyboardButton must be an Object"
    for button in (b for row in rows for b in row):
        if not isinstance(button, dict) or not button.get("text"):
            return "can't parse inline keyboard button: Text buttons are unallowed in the inline keyboard"
        data, url = button.get("callback_data"), button.get("url")
        if (data is None) == (url is None):
            return "can't parse inline keyboard button: exactly one of the optional fields must be used"
        if data is not None and not 1 <= len(data.encode("utf-8")) <= MAX_CALLBACK_BYTES:
            return "BUTTON_DATA_INVALID"
        if url is not None and not str(url).startswith(("https://", "http://", "tg://")):
            return "BUTTON_URL_INVALID"
    return None


@asynccontextmanager
async def running_fake_telegram(**options: Any) -> AsyncIterator[FakeTelegram]:
    fake = FakeTelegram(**options)
    async with serve(fake.app()) as url:
        fake.url = url
        yield fake


@pytest_asyncio.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    """A fresh fake Bot API on loopback for one test."""
    async with running_fake_telegram() as fake:
        yield fake
