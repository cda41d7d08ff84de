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

CONVERSATION = [
    "你好",
    "楼上邻居天天半夜拖椅子 吵得睡不着 帮忙调解一下",
    "是",
    "幸福小区3栋",
    "上周开始",
    "楼上住户",
    "匿名",
    "13812345678",
    "同意",
    "确认",
]
LEVELS = (1, 10, 50)
POSTGRES = os.environ.get("BOT_BENCH_POSTGRES_URL", "postgresql+psycopg://root@127.0.0.1:5432/test")


async def resident(engine: DialogEngine, samples: list[float]) -> None:
    user = uuid.uuid4().hex
    for text in CONVERSATION:
        started = time.perf_counter()
        await engine.handle(Inbound("bench", user, uuid.uuid4().hex, text, datetime.now(UTC)))
        samples.append((time.perf_counter() - started) * 1000)


async def run(settings: Settings, label: str, classifier: object) -> list[str]:
    upgrade(settings)
    database = create_engine(settings)
    engine = build_engine(settings, database, classifier)  # type: ignore[arg-type]
    rows = []
    try:
        await resident(engine, [])  # warm-up
        for n in LEVELS:
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
    return rows


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
            rows += await run(base.model_copy(update={"data_dir": Path(tmp)}), "SQLite", nlu.classifier)
        if _postgres_available():
            pg = base.model_copy(update={"database_url": POSTGRES})
            _reset_postgres(sync_url(pg))
            rows += await run(pg, "PostgreSQL", nlu.classifier)
    body = "\n".join(
        [
            f"Machine: {machine()}. Each simulated resident holds a whole report conversation "
            f"({len(CONVERSATION)} turns: greeting, report, questions, consent, confirmation) with the "
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
