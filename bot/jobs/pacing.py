"""Send pacing shared by every bot process: a channel's limits (Telegram: ~30 messages/s in all,
1/s per chat) hold for the account, not per process, so the next free slot per key lives in the
database (``rate_slots``) and each send reserves one before it goes."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.jobs.claims import rowcount
from bot.storage.models import RateSlot


class SharedPacer:
    """``await pacer.wait({"telegram": 1/30, "telegram:42": 1.0})`` returns when a send may go:
    a slot is reserved on every key and the caller sleeps until the latest of them."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._sleep = sleep

    async def reserve(self, intervals: dict[str, float]) -> float:
        """Reserve the next slot of each key; returns the seconds to wait before sending."""
        now = self._clock()
        latest = now
        async with self._sessions.begin() as session:
            insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
            for key in sorted(intervals):  # one order everywhere: no deadlock between processes
                await session.execute(
                    insert(RateSlot).values(key=key, next_free_at=now).on_conflict_do_nothing()
                )
                slot = await session.get_one(RateSlot, key, with_for_update=True)
                free = slot.next_free_at
                start = max(now, free)
                slot.next_free_at = start + timedelta(seconds=intervals[key])
                latest = max(latest, start)
        return (latest - now).total_seconds()

    async def wait(self, intervals: dict[str, float]) -> None:
        delay = await self.reserve(intervals)
        if delay > 0:
            await self._sleep(delay)


def slots_purge(sessions: async_sessionmaker[AsyncSession]) -> Callable[[], Awaitable[int]]:
    """The periodic job: forget slots long past (one row per chat would otherwise pile up)."""

    async def run() -> int:
        async with sessions.begin() as session:
            gone = await session.execute(
                delete(RateSlot).where(RateSlot.next_free_at < datetime.now(UTC) - timedelta(hours=1))
            )
            return rowcount(gone)

    return run


async def slots(session: AsyncSession) -> dict[str, datetime]:
    """Every key's next free slot (for ``bot jobs status`` and tests)."""
    rows = await session.scalars(select(RateSlot))
    return {row.key: row.next_free_at for row in rows}
