"""Claiming work rows so that, with several bot processes, each row is handled by one of them.

PostgreSQL: ``SELECT … FOR UPDATE SKIP LOCKED`` picks rows nobody else is claiming, then marks
them claimed in the same transaction. SQLite silently ignores SKIP LOCKED, so there a claim is a
conditional ``UPDATE … WHERE status = 'pending'`` per row, and only a row count of 1 means it is
ours. A claim is a short lease (``bot.jobs.heartbeat``): the worker renews the rows it holds
while it works (``heartbeat``), a worker killed mid-job leaves rows claimed, and they become due
again ``LEASE`` after its last renewal. A worker finishes a row only while it still holds it
(``still_claimed``), so a row taken over is finished once, by its new holder.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import CursorResult, and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.jobs.heartbeat import LEASE, RENEW_EVERY, Heartbeat


def _due(model: Any, now: datetime) -> Any:
    return or_(
        and_(model.status == "pending", model.next_attempt_at <= now),
        and_(model.status == "claimed", model.claimed_at < now - LEASE),
    )


def rowcount(result: Any) -> int:
    """Rows an UPDATE/INSERT touched (SQLAlchemy types ``execute`` results without it)."""
    return int(cast(CursorResult[Any], result).rowcount)


async def claim(
    session: AsyncSession,
    model: Any,
    *,
    worker: str,
    now: datetime,
    limit: int,
    order_by: tuple[Any, ...],
    where: Any = None,
) -> list[int]:
    """Claim up to ``limit`` due rows of ``model`` (outbox, notifications, stored updates), among
    those matching ``where`` when given; returns their ids.

    Runs in the caller's transaction; commit it to publish the claims, then ``hold`` them in the
    worker's ``heartbeat``.
    """
    due = _due(model, now) if where is None else and_(_due(model, now), where)
    candidates = select(model.id).where(due).order_by(*order_by).limit(limit)
    mark = {"status": "claimed", "claimed_by": worker, "claimed_at": now}
    if session.get_bind().dialect.name == "postgresql":
        ids = list((await session.scalars(candidates.with_for_update(skip_locked=True))).all())
        if ids:
            await session.execute(update(model).where(model.id.in_(ids)).values(**mark))
        return ids
    claimed = []
    for row_id in (await session.scalars(candidates)).all():
        result = await session.execute(
            update(model).where(model.id == row_id, _due(model, now)).values(**mark)
        )
        if rowcount(result) == 1:
            claimed.append(row_id)
    return claimed


def heartbeat(
    sessions: async_sessionmaker[AsyncSession],
    model: Any,
    *,
    worker: str,
    clock: Callable[[], datetime],
    every: timedelta = RENEW_EVERY,
) -> Heartbeat[int]:
    """The heartbeat that keeps ``worker``'s claims on rows of ``model`` alive while it works."""

    async def renew(ids: set[int]) -> set[int]:
        async with sessions.begin() as session:
            result = await session.execute(
                update(model)
                .where(model.id.in_(ids), model.claimed_by == worker, model.status == "claimed")
                .values(claimed_at=clock())
                .returning(model.id)
                .execution_options(synchronize_session=False)
            )
            return set(result.scalars().all())

    return Heartbeat(renew, every=every, name=f"{model.__tablename__}:{worker}")


async def still_claimed(session: AsyncSession, model: Any, row_id: int, worker: str) -> Any | None:
    """The row, locked for this transaction, while ``worker`` still holds its claim; None when
    it is gone or another worker took it over (that worker finishes it). Read it first in the
    transaction that writes the row's outcome."""
    row = await session.get(model, row_id, with_for_update=True)
    if row is None or row.claimed_by != worker or row.status != "claimed":
        return None
    return row
