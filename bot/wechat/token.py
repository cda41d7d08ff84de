"""WeChat's access_token: one refresher fetches it, every process reads it.

WeChat hands out a token for two hours and a new token invalidates the previous one after a
short overlap, so a process that fetched its own would knock out the token of the others. The
``TokenRefresher`` job therefore runs under a database lease (one process at a time; renewed while
it runs, free again seconds after its holder dies), fetches only when the stored token is missing
or close to its end, and writes it to ``channel_tokens``; ``StoredAccessToken`` is what the API
clients of every process read it from.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.jobs import leases
from bot.jobs.heartbeat import RENEW_EVERY
from bot.storage.models import ChannelToken
from bot.wechat.api import WeChatApi, WeChatRetryable

log = structlog.get_logger(__name__)

TOKEN_NAME = "wechat"  # noqa: S105 - the row's name, not a secret
JOB_NAME = "wechat-token"
#: Fetch a new token when the stored one ends within this time.
REFRESH_BEFORE = timedelta(minutes=15)
#: A process re-reads the stored token this long before its end (the refresher has replaced
#: it by then); WeChat keeps the old token valid a few minutes after a new one is issued.
CACHE_MARGIN = timedelta(minutes=5)


class StoredAccessToken:
    """The token the refresher stored, cached in this process until shortly before its end."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._sessions = sessions
        self._clock = clock
        self._cached: tuple[str, datetime] | None = None

    async def current(self) -> str:
        if self._cached is not None and self._clock() < self._cached[1] - CACHE_MARGIN:
            return self._cached[0]
        return await self.reread()

    async def reread(self) -> str:
        async with self._sessions() as session:
            row = await session.get(ChannelToken, TOKEN_NAME)
            stored = (row.token, row.expires_at) if row is not None else None
        if stored is None or stored[1] <= self._clock():
            self._cached = None
            raise WeChatRetryable("access_token", None, "no valid token stored yet (the refresher job)")
        self._cached = stored
        return stored[0]


@dataclass(frozen=True, slots=True)
class TokenState:
    expires_at: datetime
    refreshed: bool  # True: this run fetched it; False: the stored one was still good


class TokenRefresher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        api: WeChatApi,
        app_id: str,
        secret: str,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        holder: str | None = None,
        renew_every: timedelta = RENEW_EVERY,
    ) -> None:
        self._sessions = sessions
        self._api = api
        self._app_id = app_id
        self._secret = secret
        self._clock = clock
        self.holder = holder or f"wechat-token-{uuid.uuid4().hex[:8]}"
        self._renew_every = renew_every

    async def run_once(self) -> TokenState | None:
        """Make sure a token with some life left is stored. None: another process is at it."""
        return await leases.under_lease(
            self._sessions,
            JOB_NAME,
            self.holder,
            self._clock,
            self._refresh_if_due,
            renew_every=self._renew_every,
        )

    async def stored_expiry(self) -> datetime | None:
        async with self._sessions() as session:
            row = await session.get(ChannelToken, TOKEN_NAME)
            return row.expires_at if row is not None else None

    async def _refresh_if_due(self) -> TokenState:
        expires_at = await self.stored_expiry()
        if expires_at is not None and expires_at - self._clock() > REFRESH_BEFORE:
            return TokenState(expires_at, refreshed=False)
        issued = await self._api.stable_token(self._app_id, self._secret)
        now = self._clock()
        expires_at = now + timedelta(seconds=issued.expires_in)
        async with self._sessions.begin() as session:
            # Store it only while the lease is ours: a refresher that stalled past it and was
            # taken over leaves the row to the new holder.
            if not await leases.renew(session, JOB_NAME, self.holder, now):
                raise leases.LeaseLost(JOB_NAME)
            row = await session.get(ChannelToken, TOKEN_NAME)
            if row is None:
                session.add(
                    ChannelToken(
                        name=TOKEN_NAME, token=issued.access_token, expires_at=expires_at, refreshed_at=now
                    )
                )
            else:
                row.token, row.expires_at, row.refreshed_at = issued.access_token, expires_at, now
        log.info("wechat.token_stored", expires_in=issued.expires_in)
        return TokenState(expires_at, refreshed=True)
