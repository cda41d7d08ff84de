"""Choose the pipeline by measurement: cross-validate every candidate in ``bot/nlu/pipelines/``
with ``rasa test nlu --cross-validation``, train each on all data, time its parses, and print
the table that docs/nlu.md shows.

Run with ``make compare-nlu`` (slow: DIET trains once per fold).
"""

from __future__ import annotations

import asyncio
import json
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from bot.logs import configure_logging
from bot.nlu.client import FALLBACK_LABEL, RasaClient
from bot.nlu.evaluation import Gold, Predicted, read_gold, score
from bot.nlu.labels import DisputeCatalog, split_label
from bot.nlu.normalize import normalize_text
from bot.nlu.rasa_env import rasa_environment, rasa_executable
from bot.nlu.server import ManagedRasaServer, free_port
from bot.nlu.training import prepare_training_file, train
from bot.settings import PROJECT_ROOT, Settings

FOLDS = 5


def _cross_validate(settings: Settings, config: Path, training_file: Path, out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    argv = [
        str(rasa_executable(settings.rasa_venv)), "test", "nlu", "--cross-validation", "-f", str(FOLDS),
        "-c", str(config), "--nlu", str(training_file), "--out", str(out), "--successes", "--no-plot",
    ]  # fmt: skip
    started = time.monotonic()
    subprocess.run(argv, cwd=PROJECT_ROOT, env=rasa_environment(), check=True, capture_output=True)
    return time.monotonic() - started


def _cv_predictions(out: Path) -> tuple[list[Gold], list[Predicted]]:
    gold: list[Gold] = []
    predicted: list[Predicted] = []
    for name in ("intent_successes.json", "intent_errors.json"):
        path = out / name
        if not path.exists():
            continue
        for row in json.loads(path.read_text(encoding="utf-8")):
            g_intent, g_type = split_label(row["intent"])
            p_label = (row.get("intent_prediction") or {}).get("name") or FALLBACK_LABEL
            p_intent, p_type = split_label(p_label)
            gold.append(Gold(row["text"], g_intent, g_type))
            predicted.append(Predicted(p_intent, p_type, p_intent == "urgent_risk"))
    return gold, predicted


async def _parse_latency(settings: Settings, model: Path, texts: list[str]) -> tuple[float, float]:
    server = ManagedRasaServer(
        rasa_venv=settings.rasa_venv,
        model_path=model,
        port=free_port(),
        log_path=settings.data_dir / "logs" / "compare.log",
    )
    await server.start()
    try:
        async with RasaClient(server.url, token=server.token, timeout=10) as client:
            for text in texts[:20]:  # warm-up
                await client.parse(text)
            samples = []
            for text in texts:
                started = time.perf_counter()
                await client.parse(text)
                samples.append((time.perf_counter() - started) * 1000)
    finally:
        await server.stop()
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.99) - 1]


def main() -> None:
    settings = Settings()
    configure_logging("WARNING")
    codes = list(DisputeCatalog.load(settings.knowledge_dir).codes)
    training_file, data = prepare_training_file(settings)
    dev = [normalize_text(g.text) for g in read_gold(PROJECT_ROOT / "tests" / "data" / "nlu_dev.jsonl")]
    results: dict[str, Any] = {"examples": sum(len(v) for v in data.examples.values()), "folds": FOLDS}
    for config in sorted((settings.nlu_project_dir / "pipelines").glob("*.yml")):
        name = config.stem
        out = settings.data_dir / "nlu-compare" / name
        print(f"[{name}] cross-validating ({FOLDS} folds)…", file=sys.stderr)
        cv_seconds = _cross_validate(settings, config, training_file, out)
        gold, predicted = _cv_predictions(out)
        report = score(gold, predicted, codes)
        print(f"[{name}] training on all data…", file=sys.stderr)
        trained = train(settings, config=config, force=True)
        p50, p99 = asyncio.run(_parse_latency(settings, trained.model, dev))
        trained.model.unlink()
        results[name] = {
            **report.as_dict(),
            "cv_seconds": round(cv_seconds),
            "train_seconds": round(trained.seconds),
            "parse_p50_ms": round(p50, 1),
            "parse_p99_ms": round(p99, 1),
        }
        print(json.dumps({name: results[name]}, ensure_ascii=False)[:400], file=sys.stderr)
    target = settings.data_dir / "nlu-compare" / "results.json"
    target.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    print(f"written {target}")


if __name__ == "__main__":
    main()
