"""A resident's conversation so far, read back for a channel that shows it again (the web chat
page after a reload): what the resident wrote and the replies recorded with it, in order."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from bot.dialogs.messages import Outbound
from bot.storage import models
from bot.storage.db import sessions
from bot.storage.turns import replies_from_json

#: At most this many of the resident's latest messages are read back.
HISTORY_LIMIT = 50


@dataclass(frozen=True, slots=True)
class Exchange:
    """One handled message: what the resident wrote (None or "" for a shared location or a
    photo) and the replies it got."""

    text: str | None
    replies: tuple[Outbound, ...]


async def recent_exchanges(
    database: AsyncEngine, channel: str, user_id: str, limit: int = HISTORY_LIMIT
) -> list[Exchange]:
    """The resident's last ``limit`` handled messages on ``channel``, oldest first; only this
    resident's (the query is keyed by channel and user id, never by message id alone)."""
    processed = models.ProcessedMessage
    async with sessions(database)() as session:
        # A read: no write lock (SQLite's turns begin IMMEDIATE by default).
        await session.connection(execution_options={"sqlite_begin": "DEFERRED"})
        rows = (
            await session.execute(
                select(processed.text, processed.replies)
                .where(processed.channel == channel, processed.user_id == user_id)
                .order_by(processed.id.desc())
                .limit(limit)
            )
        ).all()
    # Erased rows (a declined or dropped report, retention) hold neither: nothing of them is shown.
    return [
        Exchange(text=text, replies=replies_from_json(replies or []))
        for text, replies in reversed(rows)
        if text is not None or replies
    ]
