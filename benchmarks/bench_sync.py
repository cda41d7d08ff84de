"""`make bench-sync`: the progress sync over 100,000 open cases of which 10% changed — wall
time, requests to the case system, memory — and notification throughput. The case system is
the reference case desk, a separate process on loopback; both databases are SQLite files."""

from __future__ import annotations

import asyncio
import os
import random
import resource
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

import httpx
from sqlalchemy import insert

from backend_client import CaseSystemClient
from benchmarks.report import machine, write_section
from bot.cases.steps import CaseSteps
from bot.dialogs.replies import Replies
from bot.jobs.notify import Delivery, Dispatcher
from bot.jobs.sync import JOB, ProgressSync
from bot.logs import configure_logging
from bot.nlu.server import free_port
from bot.settings import PROJECT_ROOT, Settings
from bot.storage import models
from bot.storage.db import create_engine, sessions
from bot.storage.migrate import upgrade

CASES = 100_000
CHANGED = CASES // 10
TOKEN = "bench-token"
CHUNK = 5_000


def populate_desk(data_dir: Path) -> None:
    from casedesk.db import CaseRow, ChangeEvent, Counter, create_sync_engine, create_tables_sync
    from casedesk.settings import Settings as DeskSettings
    from casedesk.store import CHANGES_FEED

    desk = DeskSettings(_env_file=None, data_dir=data_dir, database_url=None)
    engine = create_sync_engine(desk)
    create_tables_sync(engine, desk)
    now = datetime.now(UTC)
    with engine.begin() as connection:
        for start in range(1, CASES + 1, CHUNK):
            rows = [
                {"id": n, "case_no": f"ZZ2026-{n:06d}", "reference": f"TJ20261122-{n:06d}", "dispute_type": "neighbor",
                 "description": "楼上噪音", "place": "幸福小区", "occurred": "上周", "reporter_phone": "13800000000",
                 "channel": "web", "consent_at": now, "step": "accepted", "created_at": now, "updated_at": now}
                for n in range(start, min(start + CHUNK, CASES + 1))
            ]  # fmt: skip
            connection.execute(insert(CaseRow), rows)
            connection.execute(
                insert(ChangeEvent),
                [{"seq": r["id"], "case_id": r["id"], "case_no": r["case_no"], "reference": r["reference"],
                  "step": "accepted", "changed_at": now} for r in rows],
            )  # fmt: skip
        changed = random.Random(7).sample(range(1, CASES + 1), CHANGED)
        connection.execute(
            insert(ChangeEvent),
            [{"seq": CASES + i + 1, "case_id": n, "case_no": f"ZZ2026-{n:06d}", "reference": f"TJ20261122-{n:06d}",
              "step": "mediation", "department": "司法所", "public_note": "周三下午调解", "changed_at": now}
             for i, n in enumerate(changed)],
        )  # fmt: skip
        connection.execute(insert(Counter).values(name=CHANGES_FEED, value=CASES + CHANGED))
    engine.dispose()


async def populate_bot(settings: Settings) -> None:
    upgrade(settings)
    database = create_engine(settings)
    now = datetime.now(UTC)
    async with sessions(database).begin() as session:
        for start in range(1, CASES + 1, CHUNK):
            await session.execute(
                insert(models.Case),
                [{"reference": f"TJ20261122-{n:06d}", "channel": "web", "user_id": f"u{n}", "dispute_type": "neighbor",
                  "description": "楼上噪音", "place": "幸福小区", "occurred": "上周", "phone": "13800000000",
                  "attachments": [], "consent_at": now, "step": "accepted", "backend_case_no": f"ZZ2026-{n:06d}",
                  "last_change_seq": n}
                 for n in range(start, min(start + CHUNK, CASES + 1))],
            )  # fmt: skip
        # The bot has read the feed up to the cases' creation: what is new is the 10% that changed.
        await session.execute(insert(models.JobLease).values(name=JOB, cursor=str(CASES)))
    await database.dispose()


class CountingTransport(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.requests = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        return await super().handle_async_request(request)


class Discard:
    """A channel that accepts everything at once: measures the dispatcher, not a network."""

    async def send(self, user_id: str, text: str) -> Delivery:
        return Delivery.SENT


async def main() -> None:
    configure_logging("WARNING")
    with TemporaryDirectory() as tmp:
        root = Path(tmp)
        desk_dir, bot_dir = root / "desk", root / "bot"
        started = time.perf_counter()
        populate_desk(desk_dir)
        settings = Settings(data_dir=bot_dir, database_url=None)
        await populate_bot(settings)
        print(
            f"populated {CASES} cases and {CHANGED} changes in {time.perf_counter() - started:.0f}s",
            flush=True,
        )
        port = free_port()
        env = {**os.environ, "CASEDESK_DATA_DIR": str(desk_dir), "CASEDESK_API_TOKEN": TOKEN,
               "CASEDESK_PORT": str(port)}  # fmt: skip
        desk = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "casedesk", "serve", env=env, cwd=PROJECT_ROOT,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        url = f"http://127.0.0.1:{port}"
        try:
            probe = CaseSystemClient(url, TOKEN, attempts=1)
            for _ in range(200):
                if await probe.is_reachable():
                    break
                await asyncio.sleep(0.1)
            await probe.aclose()
            database = create_engine(settings)
            transport = CountingTransport()
            client = CaseSystemClient(url, TOKEN, transport=transport, timeout=60)
            sync = ProgressSync(
                sessions(database),
                client,
                Replies.load(settings.knowledge_dir),
                CaseSteps.load(settings.knowledge_dir),
            )
            rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            tracemalloc.start()
            started = time.perf_counter()
            result = await sync.sync_once()
            sync_seconds = time.perf_counter() - started
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            await client.aclose()

            dispatcher = Dispatcher(sessions(database), {"web": Discard()}, batch=500)
            started = time.perf_counter()
            dispatched = await dispatcher.dispatch_once()
            dispatch_seconds = time.perf_counter() - started
            await database.dispose()
        finally:
            desk.terminate()
            await desk.wait()
    body = "\n".join(
        [
            f"Machine: {machine()}. {CASES:,} open cases in the bot's SQLite database and the desk's; "
            f"{CHANGED:,} of them changed since the last sync (the feed holds {CASES + CHANGED:,} events). "
            "The desk runs as its own process on loopback; pages of 1,000 changes.",
            "",
            "| measure | value |",
            "|---|---:|",
            f"| changes read / applied | {result.changes:,} / {result.applied:,} |",
            f"| requests to the case system | {transport.requests} |",
            f"| sync wall time | {sync_seconds:.1f} s ({result.changes / sync_seconds:,.0f} changes/s) |",
            f"| Python memory allocated at peak during the sync (tracemalloc) | {peak / 2**20:.1f} MiB |",
            f"| process peak RSS growth during the sync | {(rss_after - rss_before) / 1024:.1f} MiB |",
            f"| notifications dispatched | {dispatched.sent:,} in {dispatch_seconds:.1f} s "
            f"({dispatched.sent / dispatch_seconds:,.0f}/s, claims and bookkeeping only) |",
        ]
    )
    print(body)
    write_section(PROJECT_ROOT / "docs" / "performance.md", "bench-sync", body)


if __name__ == "__main__":
    asyncio.run(main())
