"""Reading the audit log for the reviewers' page: newest first, a page at a time."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage.models import AuditEvent

PAGE_SIZE = 50


@dataclass(frozen=True, slots=True)
class Event:
    at: datetime
    actor: str | None
    action: str
    target: str | None
    detail: str | None


async def page(sessions: async_sessionmaker[AsyncSession], number: int) -> tuple[list[Event], bool]:
    """Page ``number`` (1 = newest) and whether older events follow."""
    async with sessions() as session:
        await session.connection(execution_options={"sqlite_begin": "DEFERRED"})
        rows = (
            await session.scalars(
                select(AuditEvent)
                .order_by(AuditEvent.at.desc(), AuditEvent.id.desc())
                .offset((max(number, 1) - 1) * PAGE_SIZE)
                .limit(PAGE_SIZE + 1)
            )
        ).all()
    events = [Event(r.at, r.actor, r.action, r.target, r.detail) for r in rows[:PAGE_SIZE]]
    return events, len(rows) > PAGE_SIZE
