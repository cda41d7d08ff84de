"""Sending notifications: a notifier per channel, a rate limit per channel, retries.

A notifier pushes a message to a resident when its channel can (Telegram, WeChat
customer-service messages, …). Channels that cannot push right now (the web chat and the
console; WeChat outside its 48-hour window) *hold* the message: it goes out with the reply to the
resident's next message, and the web page also collects held messages when it polls.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Protocol

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot import metrics
from bot.jobs import claims
from bot.jobs.backoff import next_attempt
from bot.jobs.heartbeat import RENEW_EVERY, TakenOver
from bot.storage import models

log = structlog.get_logger(__name__)
MAX_ATTEMPTS = 8


class Delivery(StrEnum):
    SENT = "sent"
    HELD = "held"  # the channel cannot push now: deliver with the next reply


class NotifyRetryable(Exception):
    """The channel failed for now (network, rate limit): try again later."""


class NotifyFailed(Exception):
    """The channel refused for good (blocked the bot, bad user id)."""


class Notifier(Protocol):
    async def send(self, user_id: str, text: str) -> Delivery: ...


class HoldingNotifier:
    """For channels that cannot push: the web chat (its page polls) and the console."""

    async def send(self, user_id: str, text: str) -> Delivery:
        return Delivery.HELD


class RateLimiter:
    """At most ``rate`` sends a second (token bucket, in this process)."""

    def __init__(
        self,
        rate: float,
        burst: int = 1,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._interval = 1.0 / rate
        self._burst = burst
        self._tokens = float(burst)
        self._clock = clock
        self._sleep = sleep
        self._last = clock()
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            while True:
                now = self._clock()
                self._tokens = min(self._burst, self._tokens + (now - self._last) / self._interval)
                self._last = now
                if self._tokens >= 1 - 1e-9:  # float sums never quite reach 1: don't spin on the last ulp
                    self._tokens = max(0.0, self._tokens - 1)
                    return
                await self._sleep(max((1 - self._tokens) * self._interval, 1e-4))


@dataclass
class DispatchResult:
    sent: int = 0
    held: int = 0
    retried: int = 0
    failed: int = 0


class Dispatcher:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        notifiers: dict[str, Notifier],
        limits: dict[str, RateLimiter] | None = None,
        *,
        batch: int = 100,
        worker_id: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        renew_every: timedelta = RENEW_EVERY,
    ) -> None:
        self._sessions = sessions
        self._notifiers = notifiers
        self._limits = limits or {}
        self._batch = batch
        self.worker_id = worker_id or f"notify-{uuid.uuid4().hex[:8]}"
        self._clock = clock
        self._renew_every = renew_every

    async def dispatch_once(self) -> DispatchResult:
        result = DispatchResult()
        heartbeat = claims.heartbeat(
            self._sessions,
            models.Notification,
            worker=self.worker_id,
            clock=self._clock,
            every=self._renew_every,
        )
        async with heartbeat:
            while True:
                async with self._sessions.begin() as session:
                    ids = await claims.claim(
                        session,
                        models.Notification,
                        worker=self.worker_id,
                        now=self._clock(),
                        limit=self._batch,
                        order_by=(models.Notification.id,),
                    )
                    rows = [await session.get(models.Notification, i) for i in ids]
                    work = [(r.id, r.channel, r.user_id, r.text, r.attempts) for r in rows if r is not None]
                if not work:
                    return result
                heartbeat.hold(row[0] for row in work)
                for row_id, channel, user_id, text, attempts in work:
                    try:
                        await heartbeat.run(
                            row_id, self._send(row_id, channel, user_id, text, attempts, result)
                        )
                    except TakenOver:  # we stalled past the lease: the new holder sends it
                        log.warning("notify.taken_over", channel=channel, row=row_id)

    async def _send(
        self, row_id: int, channel: str, user_id: str, text: str, attempts: int, result: DispatchResult
    ) -> None:
        notifier = self._notifiers.get(channel, HoldingNotifier())
        limit = self._limits.get(channel)
        status, error = "sent", None
        try:
            if limit is not None:
                await limit.acquire()
            delivery = await notifier.send(user_id, text)
        except NotifyRetryable as exc:
            status, error = ("failed" if attempts + 1 >= MAX_ATTEMPTS else "pending"), str(exc)
        except NotifyFailed as exc:
            status, error = "failed", str(exc)
        else:
            status = "held" if delivery is Delivery.HELD else "sent"
        metrics.NOTIFICATIONS.labels(channel, "retried" if status == "pending" else status).inc()
        async with self._sessions.begin() as session:
            row = await claims.still_claimed(session, models.Notification, row_id, self.worker_id)
            if row is None:  # taken over during the send: the new holder records (and sends) it
                log.warning("notify.taken_over", channel=channel, row=row_id)
                return
            row.claimed_by, row.last_error = None, error[:500] if error else None
            row.status = status
            if status == "sent":
                row.sent_at = self._clock()
                result.sent += 1
            elif status == "held":
                result.held += 1
            elif status == "pending":
                row.attempts += 1
                row.next_attempt_at = next_attempt(self._clock(), row.attempts)
                result.retried += 1
            else:
                row.attempts += 1
                result.failed += 1
                log.error("notify.failed", channel=channel, row=row_id, error=error)
