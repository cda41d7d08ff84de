"""The background jobs of one bot process, run by APScheduler 3 with an in-memory job store.

APScheduler must never share a job store between two schedulers, so each process has its own
scheduler and its jobs are safe to run everywhere at once: the outbox and the notifications
are claimed row by row (``bot.jobs.claims``), and the two feed readers take a lease
(``bot.jobs.leases``) so that one process reads each feed at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

import structlog
from apscheduler.schedulers.asyncio import AsyncIOScheduler

from bot.channel import PeriodicJob
from bot.jobs.running import RunningJobs

log = structlog.get_logger(__name__)


#: A failing job waits twice as long after each failure in a row, up to this.
MAX_BACKOFF = timedelta(minutes=5)


def _guarded(
    name: str,
    job: Callable[[], Awaitable[object]],
    every: float,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> Callable[[], Awaitable[None]]:
    """Run ``job``; when it fails (the case desk down, say), log it once with its traceback, then
    back off — waiting 2, 4, 8… intervals, at most MAX_BACKOFF — and say when it works again,
    instead of a traceback every few seconds."""
    failures = 0
    resume_at: datetime | None = None

    async def run() -> None:
        nonlocal failures, resume_at
        if resume_at is not None and clock() < resume_at:
            return
        try:
            await job()
        except Exception as exc:  # retried later; the scheduler goes on
            failures += 1
            wait = min(MAX_BACKOFF, timedelta(seconds=every * 2**failures))
            resume_at = clock() + wait
            if failures == 1:
                log.exception("job.failed", job=name, retry_in_s=wait.total_seconds())
            else:
                log.debug("job.still_failing", job=name, failures=failures, error=type(exc).__name__)
            return
        if failures:
            log.warning("job.recovered", job=name, after_failures=failures)
        failures, resume_at = 0, None

    return run


def build_scheduler(jobs: Sequence[PeriodicJob], running: RunningJobs) -> AsyncIOScheduler:
    scheduler = AsyncIOScheduler()
    for job in jobs:
        first = {"next_run_time": datetime.now(UTC)} if job.at_start else {}
        scheduler.add_job(
            running.track(_guarded(job.name, job.run, job.every)), "interval", seconds=job.every, id=job.name,
            max_instances=1, coalesce=True, misfire_grace_time=max(1, int(job.every)), **first,
        )  # fmt: skip
    return scheduler


async def stop(scheduler: AsyncIOScheduler | None, running: RunningJobs, grace: float = 5.0) -> None:
    """Start no more runs, let those under way finish (or cancel them after ``grace`` seconds),
    then shut the scheduler down. APScheduler's own shutdown only cancels running coroutines
    without waiting for them, which would race the database's disposal."""
    if scheduler is not None and scheduler.running:
        scheduler.pause()
    await running.settle(grace)
    if scheduler is not None and scheduler.running:
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # AsyncIOScheduler.shutdown runs on the loop's next turn
