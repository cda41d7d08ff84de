"""`make bench-nlu`: parse latency and throughput through the bot's own client (normalisation,
urgent rules, HTTP to Rasa, label combination), with one managed Rasa server and with two
(`BOT_NLU_REPLICAS`), each set of levels against freshly started servers."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

from benchmarks.report import machine, percentile, write_section
from bot.logs import configure_logging
from bot.nlu.classifier import Classifier
from bot.nlu.runtime import nlu_runtime
from bot.nlu.urgent import UrgentRules
from bot.settings import PROJECT_ROOT, Settings

SHARED_MESSAGES = PROJECT_ROOT.parent / "shared" / "data" / "gov_platform_messages.jsonl"
CONCURRENCY = (1, 4, 16)
PER_LEVEL = 400
REPLICAS = (1, 2)


def messages() -> list[str]:
    dev = PROJECT_ROOT / "tests" / "data" / "nlu_dev.jsonl"
    texts = [
        json.loads(line)["text"] for line in dev.read_text(encoding="utf-8").splitlines() if line.strip()
    ]
    if SHARED_MESSAGES.exists():  # long, noisy real messages, when the shared material is beside the repo
        for line in SHARED_MESSAGES.read_text(encoding="utf-8").splitlines()[:300]:
            row = json.loads(line)
            texts.append(f"{row.get('title', '')} {row.get('text', '')}")
    return texts


async def run_level(classifier: Classifier, texts: list[str], concurrency: int) -> tuple[list[float], float]:
    queue = [texts[i % len(texts)] for i in range(PER_LEVEL)]
    samples: list[float] = []

    async def worker() -> None:
        while queue:
            text = queue.pop()
            started = time.perf_counter()
            await classifier.classify(text)
            samples.append((time.perf_counter() - started) * 1000)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return samples, time.perf_counter() - started


async def measure(
    settings: Settings, texts: list[str], replicas: int
) -> list[tuple[int, float, float, float]]:
    rows = []
    one_off = settings.model_copy(update={"nlu_url": None, "nlu_replicas": replicas})
    async with nlu_runtime(one_off) as nlu:
        # The bot's classifier without its cache of short messages: every level parses for real.
        classifier = Classifier(
            nlu.client, UrgentRules.load(settings.knowledge_dir), max_chars=settings.max_message_chars
        )
        for text in texts[:30]:  # warm-up
            await classifier.classify(text)
        for concurrency in CONCURRENCY:
            samples, seconds = await run_level(classifier, texts, concurrency)
            rows.append(
                (concurrency, percentile(samples, 50), percentile(samples, 99), len(samples) / seconds)
            )
    return rows


async def main() -> None:
    settings = Settings()
    configure_logging("WARNING")
    texts = messages()
    results = {replicas: await measure(settings, texts, replicas) for replicas in REPLICAS}
    base = results[1][0][3]
    lines = [
        f"Machine: {machine()}. {len(texts)} distinct messages (the dev set"
        f"{' and 300 long government message-board posts' if SHARED_MESSAGES.exists() else ''}), "
        f"{PER_LEVEL} parses per level, through `bot.nlu.classifier` (rules and danger tiers, without "
        "the bot's cache of short messages) and HTTP to `rasa run`.",
        "",
        "| Rasa servers | concurrent callers | p50 ms | p99 ms | parses/s | × one server, one caller |",
        "|---:|---:|---:|---:|---:|---:|",
    ]
    lines += [
        f"| {replicas} | {c} | {p50:.1f} | {p99:.1f} | {rate:.0f} | {rate / base:.2f} |"
        for replicas, rows in results.items()
        for c, p50, p99, rate in rows
    ]
    body = "\n".join(lines)
    print(body)
    write_section(Path(PROJECT_ROOT / "docs" / "nlu.md"), "bench-nlu", body)


if __name__ == "__main__":
    asyncio.run(main())
