"""Held notifications, taken by a channel that polls (the web chat page)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from bot.dialogs.messages import Outbound
from bot.storage import models
from bot.storage.db import sessions


async def take_held(database: AsyncEngine, channel: str, user_id: str) -> tuple[Outbound, ...]:
    async with sessions(database).begin() as session:
        return await take_held_in(session, channel, user_id)


async def take_held_in(session: AsyncSession, channel: str, user_id: str) -> tuple[Outbound, ...]:
    """The resident's held notifications, marked sent in the caller's transaction."""
    held = list(
        await session.scalars(
            select(models.Notification)
            .where(
                models.Notification.channel == channel,
                models.Notification.user_id == user_id,
                models.Notification.status == "held",
            )
            .order_by(models.Notification.id)
            .with_for_update()
        )
    )
    now = datetime.now(UTC)
    for notification in held:
        notification.status, notification.sent_at = "sent", now
    return tuple(Outbound(text=n.text, key="notify.held") for n in held)
