"""The web chat channel: a page at ``/chat`` and a small JSON API it talks to.

The resident is identified by a random, unguessable id in an HttpOnly cookie; the page sends
a fresh message id with each message and reuses it on retry, so a retried request is answered
from the record and never steps the dialog twice.
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Cookie, HTTPException, Request, Response
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from pydantic import BaseModel, Field, ValidationError

from bot.dialogs.messages import Inbound, Outbound
from bot.dialogs.ports import HandlesTurns
from bot.dialogs.replies import Replies
from bot.storage.notifications import take_held

CHANNEL = "web"
COOKIE = "chat_uid"
MAX_TEXT = 20_000  # longer than any message a resident types; the engine caps what it reads

templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")
router = APIRouter()


class MessageIn(BaseModel):
    message_id: str = Field(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")
    text: str = Field(max_length=MAX_TEXT)


class ReplyOut(BaseModel):
    text: str
    options: list[str]
    links: list[dict[str, str]]
    key: str


class MessagesOut(BaseModel):
    replies: list[ReplyOut]


def _engine(request: Request) -> HandlesTurns:
    engine: HandlesTurns = request.app.state.runtime.engine
    return engine


def _reply(outbound: Outbound) -> ReplyOut:
    links = [{"title": link.title, "url": link.url} for link in outbound.links]
    return ReplyOut(text=outbound.text, options=list(outbound.options), links=links, key=outbound.key)


def _ensure_user(response: Response, uid: str | None) -> str:
    if uid and 16 <= len(uid) <= 64 and uid.isalnum():
        return uid
    uid = secrets.token_hex(16)
    response.set_cookie(COOKIE, uid, max_age=180 * 24 * 3600, httponly=True, samesite="lax")
    return uid


@router.get("/chat", response_class=HTMLResponse)
async def chat_page(request: Request, chat_uid: Annotated[str | None, Cookie()] = None) -> HTMLResponse:
    replies: Replies = request.app.state.replies
    context = {"centre": replies.centre.name, "ui": replies.web, "buttons": replies.template("menu").options}
    response = templates.TemplateResponse(request, "chat.html", context)
    _ensure_user(response, chat_uid)
    return response


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
        raise HTTPException(status_code=422, detail="expected {message_id, text}") from exc
    uid = _ensure_user(response, chat_uid)
    inbound = Inbound(
        channel=CHANNEL,
        user_id=uid,
        message_id=message.message_id,
        text=message.text,
        sent_at=datetime.now(UTC),
    )
    replies = await _engine(request).handle(inbound)
    return MessagesOut(replies=[_reply(r) for r in replies])
