"""A failing background job (the case desk down) is logged once with its traceback, then backs
off instead of filling the log every few seconds, and says when it works again."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import structlog.testing

from bot.jobs.scheduler import MAX_BACKOFF, _guarded


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 7, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now


async def test_a_failing_job_logs_once_backs_off_and_says_when_it_recovers() -> None:
    clock = Clock()
    calls = 0
    down = True

    async def flush() -> None:
        nonlocal calls
        calls += 1
        if down:
            raise ConnectionError("desk down")

    run = _guarded("outbox", flush, every=2.0, clock=clock)
    with structlog.testing.capture_logs() as logs:
        for _ in range(150):  # five minutes of 2-second ticks with the desk down
            await run()
            clock.now += timedelta(seconds=2)
        failed = [entry for entry in logs if entry["event"] == "job.failed"]
        assert len(failed) == 1  # one traceback, not 150
        assert calls < 12  # backed off: 2, 4, 8, 16… seconds, at most MAX_BACKOFF
        down = False
        clock.now += MAX_BACKOFF
        await run()
        assert any(entry["event"] == "job.recovered" for entry in logs)
    before = calls
    await run()
    assert calls == before + 1  # back to every tick once it works
