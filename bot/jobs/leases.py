"""Leases for jobs that one process at a time must run (the feed readers): a row per job in
``job_leases``, taken with a conditional UPDATE whose row count says whether we hold it. The
row also keeps the job's feed cursor, moved forward in the same transaction as what a page did."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from bot.jobs.claims import rowcount
from bot.storage.models import JobLease


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
