"""`make bench-dialog`: turns per second and turn latency with N concurrent simulated residents,
through the real engine, the real NLU (Rasa) and the database — SQLite, and PostgreSQL when
BOT_BENCH_POSTGRES_URL (default: the local test database) answers."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from tempfile import TemporaryDirectory

import sqlalchemy

from benchmarks.report import machine, percentile, write_section
from bot.dialogs.engine import DialogEngine
from bot.dialogs.messages import Inbound
from bot.logs import configure_logging
from bot.nlu.runtime import nlu_runtime
from bot.settings import PROJECT_ROOT, Settings
from bot.storage.db import create_engine, sync_url
from bot.storage.migrate import upgrade
from bot.wiring import build_engine

GREETING = "你好"
#: Says neither where, when nor who: every question is asked (ten turns in all).
STORY = "装修噪音太大 吵得睡不着 帮忙调解一下"
#: The answer to each question (the key of the bot's last reply); the report skips a question
#: whose answer it already has, so the conversation follows what is asked, not a fixed order.
ANSWERS = {
    "report.confirm_type": "是",
    "report.pick_type": "1",
    "report.ask_description": STORY,
    "report.ask_place": "幸福小区3栋",
    "report.ask_time": "上周开始",
    "report.ask_other_party": "楼上住户",
    "report.ask_name": "匿名",
    "report.ask_phone": "13812345678",
    "report.offer_known_phone": "是",
    "report.consent": "同意",
    "report.summary": "确认",
}
DONE = "report.receipt"
MAX_TURNS = 20
LEVELS = (1, 10, 50)
POSTGRES = os.environ.get("BOT_BENCH_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")


async def resident(engine: DialogEngine, samples: list[float]) -> int:
    """One whole report conversation; returns its number of turns."""
    user = uuid.uuid4().hex
    text: str | None = GREETING
    turns = 0
    while text is not None:
        if turns == MAX_TURNS:
            raise RuntimeError("the report conversation never ended")
        started = time.perf_counter()
        replies = await engine.handle(Inbound("bench", user, uuid.uuid4().hex, text, datetime.now(UTC)))
        samples.append((time.perf_counter() - started) * 1000)
        turns += 1
        key = replies[-1].key if replies else None
        if text == GREETING:
            text = STORY
        elif key == DONE:
            text = None
        elif key in ANSWERS:
            text = ANSWERS[key]
        else:
            raise RuntimeError(f"the report went off script: {text!r} got {key!r}")
    return turns


async def run(
    settings: Settings, label: str, classifier: object, levels: tuple[int, ...] = LEVELS
) -> tuple[list[str], int]:
    """The rows of the table, and the turns of one conversation."""
    upgrade(settings)
    database = create_engine(settings)
    engine = build_engine(settings, database, classifier)  # type: ignore[arg-type]
    rows = []
    try:
        turns = await resident(engine, [])  # warm-up
        for n in levels:
            samples: list[float] = []
            started = time.perf_counter()
            await asyncio.gather(*(resident(engine, samples) for _ in range(n)))
            seconds = time.perf_counter() - started
            rows.append(
                f"| {label} | {n} | {len(samples)} | {len(samples) / seconds:.0f} | "
                f"{percentile(samples, 50):.0f} | {percentile(samples, 99):.0f} |"
            )
            print(rows[-1], flush=True)
    finally:
        await database.dispose()
    return rows, turns


def _postgres_available() -> bool:
    try:
        engine = sqlalchemy.create_engine(POSTGRES)
        with engine.connect():
            pass
        engine.dispose()
    except Exception:  # any failure: no PostgreSQL to measure
        return False
    return True


def _reset_postgres(url: str) -> None:
    engine = sqlalchemy.create_engine(url)
    with engine.begin() as connection:
        connection.execute(sqlalchemy.text("DROP SCHEMA public CASCADE"))
        connection.execute(sqlalchemy.text("CREATE SCHEMA public"))
    engine.dispose()


async def main() -> None:
    configure_logging("WARNING")
    base = Settings()
    rows: list[str] = []
    async with nlu_runtime(base, start_if_unreachable=True) as nlu:
        with TemporaryDirectory() as tmp:
            sqlite = base.model_copy(update={"data_dir": Path(tmp)})
            new_rows, turns = await run(sqlite, "SQLite", nlu.classifier)
            rows += new_rows
        if _postgres_available():
            pg = base.model_copy(update={"database_url": POSTGRES})
            _reset_postgres(sync_url(pg))
            rows += (await run(pg, "PostgreSQL", nlu.classifier))[0]
    body = "\n".join(
        [
            f"Machine: {machine()}. Each simulated resident holds a whole report conversation "
            f"({turns} turns: greeting, report, questions, consent, confirmation) with the "
            "real engine, the real Rasa server and the database; all residents start together.",
            "",
            "| database | residents | turns | turns/s | p50 ms | p99 ms |",
            "|---|---:|---:|---:|---:|---:|",
            *rows,
        ]
    )
    print(body)
    write_section(PROJECT_ROOT / "docs" / "performance.md", "bench-dialog", body)


if __name__ == "__main__":
    asyncio.run(main())
