"""What staff do with a handoff reaches the resident: "taken" (the bot goes quiet and relays),
their messages, and "closed" (the bot takes over again). Read from the desk's events feed under
a lease, like the progress sync."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend_client import CaseSystemClient
from backend_client.models import HandoffEvent, HandoffEventType
from bot.dialogs.replies import Replies
from bot.jobs import leases
from bot.jobs.heartbeat import RENEW_EVERY
from bot.jobs.notices import queue_notification
from bot.storage import models

JOB = "handoff_events"


class HandoffEvents:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: CaseSystemClient,
        replies: Replies,
        *,
        holder: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        renew_every: timedelta = RENEW_EVERY,
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._replies = replies
        self.holder = holder or f"handoffs-{uuid.uuid4().hex[:8]}"
        self._clock = clock
        self._renew_every = renew_every

    async def poll_once(self) -> int:
        """Handle every new event; returns how many."""

        async def fetch(cursor: str | None) -> tuple[list[HandoffEvent], str, bool]:
            page = await self._client.handoff_events(cursor)
            return page.events, page.next_cursor, page.has_more

        async def apply(session: AsyncSession, events: Sequence[HandoffEvent]) -> int:
            for event in events:
                await self._apply(session, event)
            return len(events)

        run = await leases.read_feed(
            self._sessions, JOB, self.holder, self._clock, fetch, apply, renew_every=self._renew_every
        )
        return run.items if run else 0

    async def _apply(self, session: AsyncSession, event: HandoffEvent) -> None:
        handoff = await session.scalar(
            select(models.Handoff).where(models.Handoff.backend_id == event.handoff_id)
        )
        if handoff is None:  # an escalation's handoff, created by the desk itself
            handoff = models.Handoff(channel=event.channel, user_id=event.resident_ref, urgent=True)
            handoff.backend_id, handoff.status = event.handoff_id, "waiting"
            session.add(handoff)
            await session.flush()
        now = self._clock()
        if event.type is HandoffEventType.TAKEN:
            handoff.status, handoff.last_activity_at = "taken", now
            text = self._replies.text("notify.handoff_taken")
        elif event.type is HandoffEventType.MESSAGE:
            handoff.last_activity_at = handoff.staff_replied_at = now
            text = self._replies.text("notify.handoff_message", text=event.text or "")
        else:
            handoff.status = "closed"
            text = self._replies.text("notify.handoff_closed")
        await queue_notification(
            session,
            channel=handoff.channel,
            user_id=handoff.user_id,
            text=text,
            key=f"handoff-event:{event.seq}",
        )
