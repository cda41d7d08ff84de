"""Leases for jobs that one process at a time must run (the feed readers, the WeChat token
refresher): a row per job in ``job_leases``, taken with a conditional UPDATE whose row count says
whether we hold it. The lease is short (``bot.jobs.heartbeat.LEASE``) and renewed by a heartbeat
while the job runs (``under_lease``), so a killed holder's job is free again within seconds. The
row also keeps a feed's cursor, moved forward in the same transaction as what a page did, and
only while we still hold the lease."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

import structlog
from sqlalchemy import or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.jobs.claims import rowcount
from bot.jobs.heartbeat import LEASE, RENEW_EVERY, Heartbeat, TakenOver
from bot.storage.models import JobLease

log = structlog.get_logger(__name__)
T = TypeVar("T")


class LeaseLost(TakenOver):
    """Another process took the lease (ours expired): stop and let it carry on."""


async def acquire(session: AsyncSession, name: str, holder: str, now: datetime) -> bool:
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    await session.execute(insert(JobLease).values(name=name).on_conflict_do_nothing())
    result = await session.execute(
        update(JobLease)
        .where(
            JobLease.name == name,
            or_(JobLease.holder.is_(None), JobLease.expires_at < now, JobLease.holder == holder),
        )
        .values(holder=holder, expires_at=now + LEASE)
    )
    return rowcount(result) == 1


async def renew(session: AsyncSession, name: str, holder: str, now: datetime) -> bool:
    """Extend the lease from ``now``, only while we still hold it (False: taken over)."""
    result = await session.execute(
        update(JobLease)
        .where(JobLease.name == name, JobLease.holder == holder)
        .values(expires_at=now + LEASE)
    )
    return rowcount(result) == 1


async def advance(session: AsyncSession, name: str, holder: str, cursor: str, now: datetime) -> None:
    """Store the cursor and extend the lease, only while we still hold it."""
    result = await session.execute(
        update(JobLease)
        .where(JobLease.name == name, JobLease.holder == holder)
        .values(cursor=cursor, expires_at=now + LEASE)
    )
    if rowcount(result) != 1:
        raise LeaseLost(name)


async def release(session: AsyncSession, name: str, holder: str) -> None:
    await session.execute(
        update(JobLease)
        .where(JobLease.name == name, JobLease.holder == holder)
        .values(holder=None, expires_at=None)
    )


async def cursor_of(session: AsyncSession, name: str) -> str | None:
    lease = await session.get(JobLease, name)
    return lease.cursor if lease else None


async def under_lease(
    sessions: async_sessionmaker[AsyncSession],
    name: str,
    holder: str,
    clock: Callable[[], datetime],
    work: Callable[[], Coroutine[Any, Any, T]],
    *,
    renew_every: timedelta = RENEW_EVERY,
) -> T | None:
    """Run ``work`` holding the job's lease, renewed by a heartbeat however long it takes; then
    release it. None: another process holds the lease, or took it over while we stalled (the
    heartbeat then cancels ``work``)."""
    async with sessions.begin() as session:
        if not await acquire(session, name, holder, clock()):
            return None

    async def renew_ours(names: set[str]) -> set[str]:
        async with sessions.begin() as session:
            return names if await renew(session, name, holder, clock()) else set()

    try:
        async with Heartbeat(renew_ours, every=renew_every, name=name) as heartbeat:
            heartbeat.hold({name})
            return await heartbeat.run(name, work())
    except TakenOver:
        log.warning("lease.taken_over", job=name, holder=holder)
        return None
    finally:
        async with sessions.begin() as session:
            await release(session, name, holder)


@dataclass
class FeedRun:
    pages: int = 0
    items: int = 0
    applied: int = 0


async def read_feed(
    sessions: async_sessionmaker[AsyncSession],
    job: str,
    holder: str,
    clock: Callable[[], datetime],
    fetch: Callable[[str | None], Awaitable[tuple[Sequence[T], str, bool]]],
    apply: Callable[[AsyncSession, Sequence[T]], Awaitable[int]],
    *,
    renew_every: timedelta = RENEW_EVERY,
) -> FeedRun | None:
    """Read a feed from the stored cursor to its end under the job's lease (None: another
    process holds it). Each page is applied and the cursor moved in one transaction, which
    rolls back if the lease was taken over meanwhile (the new holder applies that page)."""

    async def read() -> FeedRun:
        async with sessions() as session:
            cursor = await cursor_of(session, job)
        run = FeedRun()
        while True:
            items, next_cursor, more = await fetch(cursor)
            async with sessions.begin() as session:
                run.applied += await apply(session, items)
                await advance(session, job, holder, next_cursor, clock())
            cursor = next_cursor
            run.pages += 1
            run.items += len(items)
            if not more:
                return run

    return await under_lease(sessions, job, holder, clock, read, renew_every=renew_every)
