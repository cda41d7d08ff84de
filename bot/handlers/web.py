"""The web chat channel: a page at ``/chat`` and a small JSON API it talks to.

The resident is identified by a random, unguessable id in an HttpOnly cookie; the page sends
a fresh message id with each message and reuses it on retry, so a retried request is answered
from the record and never steps the dialog twice. The page's script and styles are files under
``static/`` (served at ``/chat/static/``), so the page runs under a strict Content-Security-Policy
without inline code.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Cookie, HTTPException, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from starlette.types import Scope

from bot.dialogs.messages import Inbound, Location, Outbound
from bot.dialogs.ports import HandlesTurns
from bot.dialogs.replies import Replies
from bot.storage.notifications import take_held
from bot.storage.web_history import recent_exchanges

CHANNEL = "web"
COOKIE = "chat_uid"
MAX_TEXT = 20_000  # longer than any message a resident types; the engine caps what it reads
HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
STATIC_PREFIX = "/chat/static"

#: The page's own headers: no inline code, no framing (clickjacking), no MIME sniffing.
PAGE_HEADERS = {
    "content-security-policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def _asset_version(directory: Path) -> str:
    """A digest of the page's static files: a new release gets new asset URLs (no stale cache)."""
    digest = hashlib.sha256()
    for path in sorted(directory.iterdir()):
        if path.is_file():
            digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:12]


ASSET_VERSION = _asset_version(STATIC)

templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter()


class ChatStatic(StaticFiles):
    """The chat page's script and styles, typed strictly (``nosniff``)."""

    async def get_response(self, path: str, scope: Scope) -> Response:
        response = await super().get_response(path, scope)
        response.headers["x-content-type-options"] = "nosniff"
        return response


def static_files() -> ChatStatic:
    """What the app mounts at ``STATIC_PREFIX``."""
    return ChatStatic(directory=STATIC)


class LocationIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    latitude: float = Field(ge=-90, le=90, strict=True, allow_inf_nan=False)
    longitude: float = Field(ge=-180, le=180, strict=True, allow_inf_nan=False)


class MessageIn(BaseModel):
    message_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    text: str = Field(max_length=MAX_TEXT)
    #: A place the resident shared from the browser (the page offers it when asked where).
    location: LocationIn | None = None


class ReplyOut(BaseModel):
    text: str
    options: list[str]
    links: list[dict[str, str]]
    key: str


class MessagesOut(BaseModel):
    replies: list[ReplyOut]


class ExchangeOut(BaseModel):
    #: What the resident wrote; null or "" when they shared a location instead.
    text: str | None
    replies: list[ReplyOut]


class HistoryOut(BaseModel):
    messages: list[ExchangeOut]


def _engine(request: Request) -> HandlesTurns:
    engine: HandlesTurns = request.app.state.runtime.engine
    return engine


def _reply(outbound: Outbound) -> ReplyOut:
    links = [{"title": link.title, "url": link.url} for link in outbound.links]
    return ReplyOut(text=outbound.text, options=list(outbound.options), links=links, key=outbound.key)


def _known_uid(uid: str | None) -> str | None:
    """The cookie's id when it has the shape we hand out, else None."""
    if uid and 16 <= len(uid) <= 64 and uid.isascii() and uid.isalnum():
        return uid
    return None


def _ensure_user(response: Response, uid: str | None) -> str:
    known = _known_uid(uid)
    if known is not None:
        return known
    uid = secrets.token_hex(16)
    response.set_cookie(COOKIE, uid, max_age=180 * 24 * 3600, httponly=True, samesite="lax")
    return uid


@router.get("/chat", response_class=HTMLResponse)
async def chat_page(request: Request, chat_uid: Annotated[str | None, Cookie()] = None) -> HTMLResponse:
    replies: Replies = request.app.state.replies
    context = {
        "centre": replies.centre.name,
        "ui": replies.web,
        "buttons": replies.template("menu").options,
        "static": STATIC_PREFIX,
        "version": ASSET_VERSION,
    }
    response = templates.TemplateResponse(request, "chat.html", context, headers=PAGE_HEADERS)
    _ensure_user(response, chat_uid)
    return response


@router.get("/chat/api/history", response_model=HistoryOut)
async def get_history(
    request: Request, response: Response, chat_uid: Annotated[str | None, Cookie()] = None
) -> HistoryOut:
    """This resident's conversation so far (their last messages and the replies), oldest first:
    the page shows it again after a reload. No cookie, or one we never handed out: nothing."""
    response.headers["cache-control"] = "no-store"
    uid = _known_uid(chat_uid)
    if uid is None:
        return HistoryOut(messages=[])
    exchanges = await recent_exchanges(request.app.state.runtime.database, CHANNEL, uid)
    return HistoryOut(
        messages=[ExchangeOut(text=e.text, replies=[_reply(r) for r in e.replies]) for e in exchanges]
    )


@router.get("/chat/api/updates", response_model=MessagesOut)
async def get_updates(request: Request, chat_uid: Annotated[str | None, Cookie()] = None) -> MessagesOut:
    """Notifications held for this resident (the web chat cannot be pushed to): taken once."""
    if not chat_uid:
        return MessagesOut(replies=[])
    held = await take_held(request.app.state.runtime.database, CHANNEL, chat_uid)
    return MessagesOut(replies=[_reply(r) for r in held])


@router.post("/chat/api/messages", response_model=MessagesOut)
async def post_message(
    request: Request,
    response: Response,
    chat_uid: Annotated[str | None, Cookie()] = None,
) -> MessagesOut:
    # JSON only: a cross-site form cannot send it without a CORS preflight, which we never allow.
    # Checked before the body is parsed, so a form post is refused as such (415), not as invalid.
    if request.headers.get("content-type", "").split(";")[0].strip() != "application/json":
        raise HTTPException(status_code=415, detail="application/json required")
    try:
        message = MessageIn.model_validate_json(await request.body())
    except ValidationError as exc:
        raise HTTPException(
            status_code=422, detail="expected {message_id, text, location?: {latitude, longitude}}"
        ) from exc
    uid = _ensure_user(response, chat_uid)
    where = message.location
    inbound = Inbound(
        channel=CHANNEL,
        user_id=uid,
        message_id=message.message_id,
        text=message.text,
        sent_at=datetime.now(UTC),
        location=Location(latitude=where.latitude, longitude=where.longitude) if where else None,
    )
    replies = await _engine(request).handle(inbound)
    return MessagesOut(replies=[_reply(r) for r in replies])
