"""A fake of WeChat's official-account API on loopback, speaking its real HTTP protocol:
the same paths, query parameters, JSON bodies, errcodes and quirks (errors as HTTP 200 with a
JSON ``errcode``; ``media/get`` errors as text/plain; ``\\uXXXX`` escapes refused with 40033).

What it enforces, as WeChat does:
- access tokens: ``/cgi-bin/token`` issues a new token each call; ``/cgi-bin/stable_token``
  (without ``force_refresh``) returns the token in force until its last five minutes. A new
  token leaves the previous one valid for a short overlap only.
- customer-service messages: only within 48 hours of the resident's last message (tell the fake
  with ``resident_wrote``) and at most five since it (45015 / 45047).
- template messages: a known template id, field values without emoji, at most 20 characters a
  line and 200 in all (47003).
- menus: 1-3 buttons, 1-5 sub-buttons, name and key lengths (WeChat's 400xx codes).

Every accepted message is in ``fake.sent``; refused calls in ``fake.refused``.

Use the ``fake_wechat`` fixture, or ``async with running_fake_wechat() as fake``; then
``fake.configure(settings)`` gives settings that point the bot at it.
"""

from __future__ import annotations

import json
import re
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest_asyncio
from pydantic import SecretStr
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.base import BaseHTTPMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.settings import Settings
from tests.loopback import serve

APP_ID = "wx0123456789abcdef"
APP_SECRET = "fake-app-secret-0123456789abcdef"
TEMPLATE_ID = "progress-template-0001"

TOKEN_LIFE = timedelta(hours=2)
STABLE_RENEW_BEFORE = timedelta(minutes=5)
WINDOW = timedelta(hours=48)
QUOTA = 5

_EMOJI = re.compile("[\U0001f000-\U0001faff\U00002600-\U000027bf\U00002b00-\U00002bff\U0000fe0f\U0000200d]")
_OPENID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_ESCAPE = re.compile(rb"\\u[0-9a-fA-F]{4}")


@dataclass
class Sent:
    """A message WeChat accepted: ``kind`` is "text" (customer service) or "template"."""

    kind: str
    openid: str
    text: str = ""
    template_id: str = ""
    data: dict[str, str] = field(default_factory=dict)
    msgid: int = 0


@dataclass
class _Contact:
    last_inbound: datetime
    pushes: int = 0


class FakeWeChat:
    def __init__(
        self,
        *,
        app_id: str = APP_ID,
        secret: str = APP_SECRET,
        template_ids: tuple[str, ...] = (TEMPLATE_ID,),
        overlap: timedelta = timedelta(minutes=5),
    ) -> None:
        self.url = ""
        self.app_id = app_id
        self.secret = secret
        self.template_ids = set(template_ids)
        self.overlap = overlap
        self.sent: list[Sent] = []
        self.refused: list[tuple[str, int]] = []  # (path, errcode)
        self.calls: list[str] = []  # every request's path, in order
        self.token_requests = 0
        self.menus: list[dict[str, Any]] = []
        self.media: dict[str, tuple[bytes, str]] = {}
        self.unsubscribed: set[str] = set()
        self._tokens: dict[str, datetime] = {}  # token -> valid until
        self._current: str | None = None
        self._contacts: dict[str, _Contact] = {}
        self._busy = 0
        self._msgid = 1000

    # --- what tests tell the fake ---

    def resident_wrote(self, openid: str, at: datetime | None = None) -> None:
        """The resident sent the account a message (opens the 48-hour window, resets the count)."""
        self._contacts[openid] = _Contact(at or datetime.now(UTC))

    def unsubscribe(self, openid: str) -> None:
        self.unsubscribed.add(openid)

    def add_media(self, media_id: str, content: bytes, content_type: str = "image/jpeg") -> None:
        self.media[media_id] = (content, content_type)

    def invalidate_tokens(self) -> None:
        """Every token issued so far stops working (as when someone forces a refresh elsewhere)."""
        self._tokens.clear()
        self._current = None

    def busy(self, calls: int = 1) -> None:
        """Answer the next ``calls`` API calls with errcode -1 (system busy)."""
        self._busy = calls

    @property
    def current_token(self) -> str | None:
        """The token last issued (to check it never shows up where it must not)."""
        return self._current

    def texts_to(self, openid: str) -> list[str]:
        return [s.text for s in self.sent if s.openid == openid and s.kind == "text"]

    def templates_to(self, openid: str) -> list[Sent]:
        return [s for s in self.sent if s.openid == openid and s.kind == "template"]

    def configure(self, settings: Settings, **more: Any) -> Settings:
        """Settings pointing the bot's WeChat client at this fake (a service account)."""
        update: dict[str, Any] = {
            "wechat_api_url": self.url,
            "wechat_app_id": self.app_id,
            "wechat_app_secret": SecretStr(self.secret),
            "wechat_template_id": next(iter(self.template_ids), None),
        }
        return settings.model_copy(update={**update, **more})

    # --- the HTTP side ---

    def app(self) -> Starlette:
        async def record(request: Request, call_next: Any) -> Response:
            self.calls.append(request.url.path)
            response: Response = await call_next(request)
            return response

        return Starlette(
            middleware=[Middleware(BaseHTTPMiddleware, dispatch=record)],
            routes=[
                Route("/cgi-bin/token", self._token, methods=["GET"]),
                Route("/cgi-bin/stable_token", self._stable_token, methods=["POST"]),
                Route("/cgi-bin/message/custom/send", self._custom_send, methods=["POST"]),
                Route("/cgi-bin/message/template/send", self._template_send, methods=["POST"]),
                Route("/cgi-bin/menu/create", self._menu_create, methods=["POST"]),
                Route("/cgi-bin/media/get", self._media_get, methods=["GET"]),
            ],
        )

    def _error(self, path: str, errcode: int, errmsg: str) -> JSONResponse:
        self.refused.append((path, errcode))
        return JSONResponse({"errcode": errcode, "errmsg": f"{errmsg} rid: {secrets.token_hex(6)}"})

    def _issue(self, now: datetime) -> str:
        if self._current is not None and self._current in self._tokens:
            self._tokens[self._current] = min(self._tokens[self._current], now + self.overlap)
        token = secrets.token_urlsafe(48)
        self._tokens[token] = now + TOKEN_LIFE
        self._current = token
        return token

    def _token_answer(self, token: str, now: datetime) -> JSONResponse:
        return JSONResponse(
            {"access_token": token, "expires_in": int((self._tokens[token] - now).total_seconds())}
        )

    def _check_credentials(self, path: str, appid: object, secret: object) -> JSONResponse | None:
        if appid != self.app_id:
            return self._error(path, 40013, "invalid appid")
        if secret != self.secret:
            return self._error(path, 40125, "invalid appsecret")
        return None

    async def _token(self, request: Request) -> Response:
        self.token_requests += 1
        query = request.query_params
        if query.get("grant_type") != "client_credential":
            return self._error(request.url.path, 40002, "invalid grant_type")
        refused = self._check_credentials(request.url.path, query.get("appid"), query.get("secret"))
        if refused:
            return refused
        now = datetime.now(UTC)
        return self._token_answer(self._issue(now), now)

    async def _stable_token(self, request: Request) -> Response:
        self.token_requests += 1
        body = await self._body(request)
        if body is None:
            return self._error(request.url.path, 47001, "data format error")
        if body.get("grant_type") != "client_credential":
            return self._error(request.url.path, 40002, "invalid grant_type")
        refused = self._check_credentials(request.url.path, body.get("appid"), body.get("secret"))
        if refused:
            return refused
        now = datetime.now(UTC)
        current = self._current
        if (
            body.get("force_refresh") is not True
            and current is not None
            and current in self._tokens
            and self._tokens[current] - now > STABLE_RENEW_BEFORE
        ):
            return self._token_answer(current, now)
        return self._token_answer(self._issue(now), now)

    def _check_token(self, request: Request) -> JSONResponse | None:
        token = request.query_params.get("access_token")
        if not token:
            return self._error(request.url.path, 41001, "access_token missing")
        valid_until = self._tokens.get(token)
        if valid_until is None:
            return self._error(
                request.url.path, 40001, "invalid credential, access_token is invalid or not latest"
            )
        if valid_until <= datetime.now(UTC):
            return self._error(request.url.path, 42001, "access_token expired")
        if self._busy:
            self._busy -= 1
            return self._error(request.url.path, -1, "system error")
        return None

    async def _body(self, request: Request) -> dict[str, Any] | None:
        raw = await request.body()
        try:
            body = json.loads(raw)
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    async def _checked_body(self, request: Request) -> dict[str, Any] | JSONResponse:
        refused = self._check_token(request)
        if refused:
            return refused
        raw = await request.body()
        if _ESCAPE.search(raw):
            return self._error(
                request.url.path,
                40033,
                "invalid charset. please check your request, if include \\uxxxx will create fail!",
            )
        body = await self._body(request)
        if body is None:
            return self._error(request.url.path, 47001, "data format error")
        return body

    def _recipient(self, path: str, openid: object) -> JSONResponse | str:
        if not isinstance(openid, str) or not _OPENID.match(openid):
            return self._error(path, 40003, "invalid openid")
        if openid in self.unsubscribed:
            return self._error(path, 43004, "require subscribe")
        return openid

    async def _custom_send(self, request: Request) -> Response:
        path = request.url.path
        body = await self._checked_body(request)
        if isinstance(body, Response):
            return body
        openid = self._recipient(path, body.get("touser"))
        if isinstance(openid, Response):
            return openid
        if body.get("msgtype") != "text":
            return self._error(path, 40008, "invalid message type")
        content = (body.get("text") or {}).get("content")
        if not isinstance(content, str) or not content:
            return self._error(path, 44004, "empty content")
        contact = self._contacts.get(openid)
        if contact is None or datetime.now(UTC) - contact.last_inbound > WINDOW:
            return self._error(path, 45015, "response out of time limit or subscription is canceled")
        if contact.pushes >= QUOTA:
            return self._error(path, 45047, "out of response count limit")
        contact.pushes += 1
        self.sent.append(Sent("text", openid, text=content))
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    async def _template_send(self, request: Request) -> Response:
        path = request.url.path
        body = await self._checked_body(request)
        if isinstance(body, Response):
            return body
        openid = self._recipient(path, body.get("touser"))
        if isinstance(openid, Response):
            return openid
        template_id = body.get("template_id")
        if template_id not in self.template_ids:
            return self._error(path, 40037, "invalid template_id")
        data = body.get("data")
        if not isinstance(data, dict) or not data:
            return self._error(path, 47003, "argument invalid! data is empty")
        values: dict[str, str] = {}
        for name, item in data.items():
            value = item.get("value") if isinstance(item, dict) else None
            if not isinstance(value, str) or not _template_value_ok(value):
                return self._error(path, 47003, f"argument invalid! data.{name}.value invalid")
            values[name] = value
        self._msgid += 1
        self.sent.append(
            Sent("template", openid, template_id=str(template_id), data=values, msgid=self._msgid)
        )
        return JSONResponse({"errcode": 0, "errmsg": "ok", "msgid": self._msgid})

    async def _menu_create(self, request: Request) -> Response:
        path = request.url.path
        body = await self._checked_body(request)
        if isinstance(body, Response):
            return body
        refused = _menu_errcode(body)
        if refused is not None:
            return self._error(path, *refused)
        self.menus.append(body)
        return JSONResponse({"errcode": 0, "errmsg": "ok"})

    async def _media_get(self, request: Request) -> Response:
        refused = self._check_token(request)
        if refused:
            return refused
        media_id = request.query_params.get("media_id", "")
        if media_id not in self.media:
            # WeChat answers this one as text/plain.
            self.refused.append((request.url.path, 40007))
            return Response(
                json.dumps({"errcode": 40007, "errmsg": "invalid media_id"}), media_type="text/plain"
            )
        content, content_type = self.media[media_id]
        extension = content_type.split("/")[-1]
        return Response(
            content,
            media_type=content_type,
            headers={"Content-disposition": f'attachment; filename="{media_id}.{extension}"'},
        )


def _template_value_ok(value: str) -> bool:
    lines = value.split("\n")
    return len(value) <= 200 and all(len(line) <= 20 for line in lines) and not _EMOJI.search(value)


def _menu_errcode(body: dict[str, Any]) -> tuple[int, str] | None:
    buttons = body.get("button")
    if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
        return 40016, "invalid button size"
    for button in buttons:
        if not isinstance(button, dict):
            return 40016, "invalid button size"
        name = button.get("name")
        if not isinstance(name, str) or not name or len(name.encode()) > 16:
            return 40018, "invalid button name size"
        subs = button.get("sub_button")
        if subs is not None:
            if not isinstance(subs, list) or not 1 <= len(subs) <= 5:
                return 40023, "invalid sub button size"
            for sub in subs:
                refused = _leaf_errcode(sub, nested=True)
                if refused:
                    return refused
        else:
            refused = _leaf_errcode(button, nested=False)
            if refused:
                return refused
    return None


def _leaf_errcode(button: Any, *, nested: bool) -> tuple[int, str] | None:
    if not isinstance(button, dict):
        return (40023, "invalid sub button size") if nested else (40016, "invalid button size")
    name = button.get("name")
    if nested and (not isinstance(name, str) or not name or len(name.encode()) > 60):
        return 40025, "invalid sub button name size"
    if button.get("type") != "click":  # the fake knows CLICK buttons only, which is all the bot uses
        return (40024, "invalid sub button type") if nested else (40017, "invalid button type")
    key = button.get("key")
    if not isinstance(key, str) or not key or len(key.encode()) > 128:
        return (40026, "invalid sub button key size") if nested else (40019, "invalid button key size")
    return None


@asynccontextmanager
async def running_fake_wechat(**options: Any) -> AsyncIterator[FakeWeChat]:
    fake = FakeWeChat(**options)
    async with serve(fake.app()) as url:
        fake.url = url
        yield fake


@pytest_asyncio.fixture
async def fake_wechat() -> AsyncIterator[FakeWeChat]:
    """A fresh fake WeChat API on loopback for one test."""
    async with running_fake_wechat() as fake:
        yield fake
