"""Short leases kept alive by a heartbeat while their holder works.

Every claim on a work row (``bot.jobs.claims``: outbox, notifications, Telegram updates) and every
job lease (``bot.jobs.leases``: the two feed readers, the WeChat token refresher) lasts ``LEASE``
from its last renewal. The holder renews what it holds every ``RENEW_EVERY`` for as long as the
work takes — a send that takes a minute keeps its claim — so only a holder that stopped (killed,
frozen) loses it, and another process takes the work over ``LEASE`` after its last renewal: with
the jobs polling every 2–3 s, within 10 s of a kill.

A renewal that finds the work taken over (the holder stalled past its lease) cancels the work,
which must then not be finished: only the new holder finishes it. That is why every finishing
write checks that the claim or lease is still ours (``claims.still_claimed``, ``leases.renew``).
The processes' clocks must agree to well within a second or two (NTP), as they compare each
other's timestamps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine, Hashable, Iterable
from datetime import timedelta
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

import structlog

log = structlog.get_logger(__name__)

#: How long a claim or job lease lasts after its last renewal: a dead holder's work waits this
#: long (plus the survivor's polling interval, ≤ 3 s) before another process takes it over.
LEASE = timedelta(seconds=6)
#: How often a holder renews: three renewals fit in a lease, so one slow or failed renewal (a
#: busy database) loses nothing.
RENEW_EVERY = timedelta(seconds=2)

K = TypeVar("K", bound=Hashable)
T = TypeVar("T")


class TakenOver(Exception):
    """Our claim or lease ran out and another process took the work over: leave it to them."""


class Heartbeat(Generic[K]):
    """Renews the keys a worker holds (row ids, a job name) every ``every`` while it works.

    ``renew`` extends the claims on the keys it is given and returns those still ours. Work on a
    key runs through ``run``: when a renewal finds the key taken over, or renewals have failed for
    so long that the lease may have run out, the work is cancelled and ``run`` raises
    ``TakenOver``. Use as ``async with``: the heartbeat stops when the block ends, and a holder
    killed mid-block simply stops renewing.
    """

    def __init__(
        self, renew: Callable[[set[K]], Awaitable[set[K]]], *, every: timedelta = RENEW_EVERY, name: str
    ) -> None:
        self._renew = renew
        self._every = every.total_seconds()
        # Give up before the lease can run out: the last renewal's time plus LEASE, less a beat.
        self._patience = max(LEASE.total_seconds() - self._every, self._every)
        self._name = name
        self._held: set[K] = set()
        self._lost: set[K] = set()
        self._working: dict[K, asyncio.Future[Any]] = {}
        self._renewed_at = 0.0
        self._beating: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._renewed_at = asyncio.get_running_loop().time()
        self._beating = asyncio.create_task(self._beat(), name=f"heartbeat:{self._name}")
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        if self._beating is not None:
            self._beating.cancel()
            await asyncio.wait({self._beating})  # never raises the task's CancelledError into ours

    def hold(self, keys: Iterable[K]) -> None:
        """Renew these keys (just claimed) from now on, until their work is done."""
        keys = set(keys)
        if not self._held:
            self._renewed_at = asyncio.get_running_loop().time()
        self._held |= keys
        self._lost -= keys

    async def run(self, key: K, work: Coroutine[Any, Any, T]) -> T:
        """Do ``work`` on a held key while the heartbeat renews it; stop renewing it afterwards."""
        if key in self._lost:
            work.close()
            raise TakenOver(key)
        task = asyncio.ensure_future(work)
        self._working[key] = task
        try:
            return await task
        except asyncio.CancelledError:
            current = asyncio.current_task()
            # Cancelled by _lose (and not because our own task is being cancelled): taken over.
            if key in self._lost and current is not None and not current.cancelling():
                raise TakenOver(key) from None
            raise
        finally:
            del self._working[key]
            self._held.discard(key)

    async def _beat(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await asyncio.sleep(self._every)
            keys = set(self._held)
            if not keys:
                self._renewed_at = loop.time()
                continue
            started = loop.time()
            try:
                async with asyncio.timeout_at(self._renewed_at + self._patience):
                    kept = await self._renew(keys)
            except TimeoutError:  # renewals failed or hung until the lease may have run out
                log.error("heartbeat.gave_up", job=self._name, held=len(keys))
                kept = set()
            except Exception as exc:  # the database, for a moment: the next beat tries again
                log.warning("heartbeat.renew_failed", job=self._name, error=type(exc).__name__)
                continue
            else:
                self._renewed_at = started
            for key in keys - kept:
                self._lose(key)

    def _lose(self, key: K) -> None:
        if key not in self._held:
            return  # finished meanwhile (a done row is no longer "claimed")
        self._held.discard(key)
        self._lost.add(key)
        task = self._working.get(key)
        if task is not None:
            task.cancel()
        log.warning("heartbeat.taken_over", job=self._name, key=str(key))
