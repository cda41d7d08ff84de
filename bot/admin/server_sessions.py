"""Console sessions held on the server. The signed cookie carries a random token; the table
``console_sessions`` holds its hash, the account, when it was last used and whether it was
revoked. A session ends when the volunteer signs out (that row), when their password, role or
active state changes (every row of the account: ``revoke_all``), and after IDLE without use."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.storage.models import ConsoleSession

IDLE = timedelta(hours=2)
#: A session's last use is written at most this often (not on every page).
TOUCH_EVERY = timedelta(minutes=1)

Sessions = async_sessionmaker[AsyncSession]
Clock = Callable[[], datetime]


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def open_session(sessions: Sessions, user_id: int, *, clock: Clock = lambda: datetime.now(UTC)) -> str:
    """A new session for the account; returns the token the cookie carries."""
    token = secrets.token_urlsafe(32)
    now = clock()
    async with sessions.begin() as session:
        session.add(ConsoleSession(id=_digest(token), user_id=user_id, created_at=now, last_seen_at=now))
    return token


async def session_user(
    sessions: Sessions, token: str, *, clock: Clock = lambda: datetime.now(UTC)
) -> int | None:
    """The account of a live session (touching it), or None when unknown, revoked or idle."""
    now = clock()
    async with sessions.begin() as session:
        row = await session.get(ConsoleSession, _digest(token))
        if row is None or row.revoked_at is not None:
            return None
        if now - row.last_seen_at > IDLE:
            row.revoked_at = now
            return None
        if now - row.last_seen_at > TOUCH_EVERY:
            row.last_seen_at = now
        return row.user_id


async def close_session(sessions: Sessions, token: str, *, clock: Clock = lambda: datetime.now(UTC)) -> None:
    async with sessions.begin() as session:
        await session.execute(
            update(ConsoleSession)
            .where(ConsoleSession.id == _digest(token), ConsoleSession.revoked_at.is_(None))
            .values(revoked_at=clock())
        )


async def revoke_all(session: AsyncSession, user_id: int, now: datetime) -> None:
    """Inside the transaction that changes the account (password, role, deactivation)."""
    await session.execute(
        update(ConsoleSession)
        .where(ConsoleSession.user_id == user_id, ConsoleSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
