"""`make compare-nlu`: choose the pipeline by measurement. Every candidate (the chosen
``bot/nlu/config.yml`` and each of ``bot/nlu/pipelines/*.yml``) is trained from scratch on all
training data, served, and scored through the bot's own classifier (rules included) on the dev
sets and the public questions — never on a sealed set. Training time and parse latency are
measured on the same run. The table goes to docs/nlu.md ("compare-nlu").

At 8,000+ examples, cross-validating DIET would take hours on two cores; held-out sets written
apart from the training data are the fairer test anyway.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.report import machine, write_section
from bot.logs import configure_logging
from bot.nlu.client import RasaClient
from bot.nlu.evaluation import Predicted, read_gold, score
from bot.nlu.labels import DisputeCatalog
from bot.nlu.runtime import build_classifier
from bot.nlu.server import ManagedRasaServer, free_port
from bot.nlu.training import train
from bot.settings import PROJECT_ROOT, Settings

SETS = ("nlu_dev", "nlu_dev_risk", "public_questions")


async def _measure(settings: Settings, model: Path) -> dict[str, Any]:
    server = ManagedRasaServer(
        rasa_venv=settings.rasa_venv,
        model_path=model,
        port=free_port(),
        log_path=settings.data_dir / "logs" / "compare.log",
    )
    await server.start()
    codes = list(DisputeCatalog.load(settings.knowledge_dir).codes)
    results: dict[str, Any] = {}
    try:
        async with RasaClient(server.url, token=server.token, timeout=30, retries=0) as client:
            classifier = build_classifier(settings, client)
            for name in SETS:
                gold = read_gold(PROJECT_ROOT / "tests" / "data" / f"{name}.jsonl")
                predicted = []
                for g in gold:
                    r = await classifier.classify(g.text)
                    predicted.append(
                        Predicted(
                            r.intent.value if r.intent else None, r.dispute_type, r.urgent, r.risk.value
                        )
                    )
                results[name] = score(gold, predicted, codes).as_dict()
            texts = [g.text for g in read_gold(PROJECT_ROOT / "tests" / "data" / "nlu_dev.jsonl")]
            samples = []
            for text in texts:  # the raw client: no cache, no rules
                started = time.perf_counter()
                await client.parse(text)
                samples.append((time.perf_counter() - started) * 1000)
    finally:
        await server.stop()
    samples.sort()
    results["parse_p50_ms"] = round(statistics.median(samples), 1)
    results["parse_p99_ms"] = round(samples[int(len(samples) * 0.99) - 1], 1)
    return results


def _table(results: dict[str, dict[str, Any]]) -> str:
    lines = [
        f"Machine: {machine()}. Each pipeline trained from scratch on all training data, then "
        "scored through the bot's classifier (rules and thresholds as shipped); parse latency over "
        "the 331 dev messages, one caller, the raw client.",
        "",
        "| pipeline | training | dev type / intent | dev-risk type / intent | dev-risk danger caught "
        "| dev-risk calm alarmed / checked | public questions type | parse p50 / p99 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in results.items():
        dev, risk, public = r["nlu_dev"], r["nlu_dev_risk"], r["public_questions"]
        lines.append(
            f"| {name} | {r['train_seconds']} s "
            f"| {dev['dispute_type_accuracy']:.1%} / {dev['intent_accuracy']:.1%} "
            f"| {risk['dispute_type_accuracy']:.1%} / {risk['intent_accuracy']:.1%} "
            f"| {risk['danger_caught']:.1%} "
            f"| {risk['calm_alarmed']:.1%} / {risk['calm_checked']:.1%} "
            f"| {public['dispute_type_accuracy']:.1%} "
            f"| {r['parse_p50_ms']} / {r['parse_p99_ms']} ms |"
        )
    return "\n".join(lines)


def main() -> None:
    settings = Settings()
    configure_logging("WARNING")
    chosen = settings.nlu_project_dir / "config.yml"
    candidates = [chosen, *sorted((settings.nlu_project_dir / "pipelines").glob("*.yml"))]
    only = set(sys.argv[1:])
    results: dict[str, dict[str, Any]] = {}
    for config in candidates:
        name = "config (chosen)" if config == chosen else config.stem
        if only and config.stem not in only:
            continue
        print(f"[{name}] training…", file=sys.stderr)
        trained = train(settings, config=config, force=True)
        measured = asyncio.run(_measure(settings, trained.model))
        results[name] = {"train_seconds": round(trained.seconds), **measured}
        if config != chosen:
            trained.model.unlink()
        print(json.dumps({name: {k: v for k, v in measured.items() if "ms" in k}}), file=sys.stderr)
    out = settings.data_dir / "nlu-compare.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, ensure_ascii=False, indent=2), encoding="utf-8")
    body = _table(results)
    print(body)
    if not only:
        write_section(PROJECT_ROOT / "docs" / "nlu.md", "compare-nlu", body)


if __name__ == "__main__":
    main()
