"""A feed reader that can be told to run now (the case system's signed "feeds moved" call,
``bot/handlers/backend_events.py``) besides its scheduled runs. Runs never overlap; a nudge that
comes while a run is on its way makes one more run after it, so a change committed before the
nudge is always read within one run."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import structlog

from bot.jobs.running import RunningJobs

log = structlog.get_logger(__name__)


class Nudgeable:
    def __init__(self, name: str, job: Callable[[], Awaitable[object]], running: RunningJobs) -> None:
        self.name = name
        self._job = job
        self._lock = asyncio.Lock()
        self._queued = False
        self._running = running

    async def run(self) -> None:
        """The scheduled run (errors go to the scheduler's guard)."""
        async with self._lock:
            await self._job()

    def nudge(self) -> None:
        if self._queued:
            return  # one run is already queued behind the current one: it will see the change
        self._queued = True
        # Counted (and referenced) until it finishes: shutdown waits for it.
        self._running.adopt(asyncio.get_running_loop().create_task(self._nudged()))

    async def _nudged(self) -> None:
        async with self._lock:
            self._queued = False
            try:
                await self._job()
            except Exception as exc:  # the scheduled run retries; a nudge is only a shortcut
                log.warning("job.nudge_failed", job=self.name, error=type(exc).__name__)
