"""Queueing a notification for a resident: once per event, whatever re-reads the event."""

from __future__ import annotations

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import Notification


async def queue_notification(
    session: AsyncSession, *, channel: str, user_id: str, text: str, key: str
) -> bool:
    """Add a notification unless one with this ``key`` exists; True when added."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    statement = (
        insert(Notification)
        .values(channel=channel, user_id=user_id, text=text, dedupe_key=key)
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(Notification.id)  # an ORM insert's rowcount is -1 on PostgreSQL: ask for the row
    )
    return (await session.execute(statement)).scalar_one_or_none() is not None
