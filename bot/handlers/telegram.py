"""The Telegram webhook: ``POST /telegram/webhook``.

Telegram signs nothing; it sends the secret given to ``setWebhook`` in a header, checked here
before the body is read. The update is stored, the request answered 200 at once (Telegram
retries only non-2xx answers, and would resend updates it thinks were lost), and handling starts
in the background; the channel's periodic inbox job picks up whatever a crash leaves behind.

The channel (a ``bot.telegram.runtime.TelegramChannel``) is the runtime's adapter "telegram";
absent when Telegram is off, and the route then answers 404, as if it did not exist.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import JSONResponse

from bot.telegram.runtime import TelegramChannel

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"  # noqa: S105 - the header's name

router = APIRouter()


def _channel(request: Request) -> TelegramChannel:
    channel = request.app.state.runtime.adapters.get("telegram")
    if not isinstance(channel, TelegramChannel):
        raise HTTPException(status_code=404)
    return channel


def _update(body: bytes) -> dict[str, Any]:
    try:
        payload = json.loads(body)
    except ValueError as exc:
        raise HTTPException(status_code=400, detail="not JSON") from exc
    update_id = payload.get("update_id") if isinstance(payload, dict) else None
    if not isinstance(update_id, int) or isinstance(update_id, bool):
        raise HTTPException(status_code=400, detail="not a Telegram update")
    return payload  # type: ignore[no-any-return]


@router.post("/telegram/webhook")
async def webhook(request: Request) -> JSONResponse:
    channel = _channel(request)
    if not channel.accepts(request.headers.get(SECRET_HEADER)):
        raise HTTPException(status_code=403)
    payload = _update(await request.body())  # the app caps every body (BOT_MAX_REQUEST_BYTES)
    if await channel.inbox.store(payload):
        channel.kick()
    return JSONResponse({})
