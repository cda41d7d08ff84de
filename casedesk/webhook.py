"""Telling the bot that a feed moved (``backend_client.webhook``): after a transaction that
appended to the changes or the handoff-events feed commits, one signed call to the bot's
``/backend/events``; calls that pile up while one is on its way become one. Failures are only
logged: the bot's scheduled poll is the safety net."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.orm import Session

from backend_client.webhook import signed_headers

log = logging.getLogger(__name__)
_POKE = "casedesk.feeds_moved"


class FeedPinger:
    def __init__(self, url: str, secret: str, *, timeout: float = 3.0) -> None:
        self._url = url
        self._secret = secret
        self._timeout = timeout
        self._moved = asyncio.Event()
        self.sent = 0

    def mark(self, session: Any) -> None:
        """Called inside the transaction that appends to a feed: the call goes after commit."""
        session.info[_POKE] = self

    def poke(self) -> None:
        self._moved.set()

    async def run(self) -> None:
        async with httpx.AsyncClient(timeout=self._timeout) as client:
            while True:
                await self._moved.wait()
                self._moved.clear()
                body = json.dumps({"event": "feeds_moved"}).encode()
                try:
                    response = await client.post(
                        self._url, content=body, headers=signed_headers(self._secret, body)
                    )
                    response.raise_for_status()
                    self.sent += 1
                except httpx.HTTPError as exc:
                    log.warning("bot webhook failed (%s): the bot's poll will catch up", type(exc).__name__)


@event.listens_for(Session, "after_commit")
def _after_commit(session: Session) -> None:
    pinger = session.info.pop(_POKE, None)
    if isinstance(pinger, FeedPinger):
        pinger.poke()


@event.listens_for(Session, "after_rollback")
def _after_rollback(session: Session) -> None:
    session.info.pop(_POKE, None)
