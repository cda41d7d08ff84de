"""Stopping the bot lets the job runs under way finish before the database goes: a run cut off
mid-write would lose its work and leak its connection into a disposed pool."""

from __future__ import annotations

import asyncio

from bot.channel import PeriodicJob
from bot.jobs.nudge import Nudgeable
from bot.jobs.running import RunningJobs
from bot.jobs.scheduler import build_scheduler, stop


async def test_a_scheduled_run_under_way_finishes_before_stop_returns_and_no_new_one_starts() -> None:
    started = asyncio.Event()
    finished: list[str] = []

    async def slow_run() -> None:
        started.set()
        await asyncio.sleep(0.3)
        finished.append("written")

    running = RunningJobs()
    scheduler = build_scheduler([PeriodicJob("slow", slow_run, 0.05, at_start=True)], running)
    scheduler.start()
    await asyncio.wait_for(started.wait(), timeout=5)
    await stop(scheduler, running)
    assert finished == ["written"]
    assert len(running) == 0 and not scheduler.running
    await asyncio.sleep(0.2)
    assert finished == ["written"]  # the scheduler started nothing more


async def test_a_run_that_hangs_is_cancelled_after_the_grace_and_has_unwound_when_stop_returns() -> None:
    running = RunningJobs()
    unwound: list[str] = []
    entered = asyncio.Event()

    async def hanging() -> None:
        try:
            entered.set()
            await asyncio.sleep(3600)
        finally:
            await asyncio.sleep(0.05)  # closing a session takes a round trip
            unwound.append("closed")

    feed = Nudgeable("hanging", hanging, running)
    feed.nudge()
    await asyncio.wait_for(entered.wait(), timeout=5)
    await stop(None, running, grace=0.1)
    assert unwound == ["closed"]
    assert len(running) == 0
