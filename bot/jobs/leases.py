"""Leases for jobs that one process at a time must run (the feed readers): a row per job in
``job_leases``, taken with a conditional UPDATE whose row count says whether we hold it. The
row also keeps the job's feed cursor, moved forward in the same transaction as what a page did."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TypeVar

from sqlalchemy import or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.jobs.claims import rowcount
from bot.storage.models import JobLease

T = TypeVar("T")


class LeaseLost(Exception):
    """Another process took the lease (ours expired): stop and let it carry on."""


async def acquire(session: AsyncSession, name: str, holder: str, now: datetime, ttl: timedelta) -> bool:
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    await session.execute(insert(JobLease).values(name=name).on_conflict_do_nothing())
    result = await session.execute(
        update(JobLease)
        .where(
            JobLease.name == name,
            or_(JobLease.holder.is_(None), JobLease.expires_at < now, JobLease.holder == holder),
        )
        .values(holder=holder, expires_at=now + ttl)
    )
    return rowcount(result) == 1


async def advance(
    session: AsyncSession, name: str, holder: str, cursor: str, now: datetime, ttl: timedelta
) -> None:
    """Store the cursor and extend the lease, only while we still hold it."""
    result = await session.execute(
        update(JobLease)
        .where(JobLease.name == name, JobLease.holder == holder)
        .values(cursor=cursor, expires_at=now + ttl)
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
    ttl: timedelta,
    fetch: Callable[[str | None], Awaitable[tuple[Sequence[T], str, bool]]],
    apply: Callable[[AsyncSession, Sequence[T]], Awaitable[int]],
) -> FeedRun | None:
    """Read a feed from the stored cursor to its end under the job's lease (None: another
    process holds it). Each page is applied and the cursor moved in one transaction."""
    async with sessions.begin() as session:
        if not await acquire(session, job, holder, clock(), ttl):
            return None
        cursor = await cursor_of(session, job)
    run = FeedRun()
    try:
        while True:
            items, next_cursor, more = await fetch(cursor)
            async with sessions.begin() as session:
                run.applied += await apply(session, items)
                await advance(session, job, holder, next_cursor, clock(), ttl)
            cursor = next_cursor
            run.pages += 1
            run.items += len(items)
            if not more:
                return run
    finally:
        async with sessions.begin() as session:
            await release(session, job, holder)
