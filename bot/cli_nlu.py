"""``bot nlu …``: train, serve, classify and evaluate the NLU."""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Annotated

import typer

from bot.cli_scoring import run_scoring
from bot.logs import configure_logging
from bot.nlu.classifier import Classification
from bot.nlu.evaluation import Predicted, format_report, read_gold, score, withhold_texts
from bot.nlu.labels import DisputeCatalog
from bot.nlu.runtime import nlu_runtime, start_managed_server
from bot.nlu.training import train
from bot.settings import Settings

nlu_app = typer.Typer(help="The Rasa + jieba NLU service.", no_args_is_help=True)


def _settings() -> Settings:
    settings = Settings()
    configure_logging(settings.log_level)
    return settings


def classification_json(c: Classification, raw_text: str) -> dict[str, object]:
    return {
        "text": raw_text,
        "intent": c.intent.value if c.intent else None,
        "dispute_type": c.dispute_type,
        "confidence": c.confidence,
        "urgent": c.urgent,
        "risk": c.risk.value,
        "risk_scores": c.risk_scores,
        "urgent_categories": list(c.urgent_categories),
        "low_confidence": c.low_confidence,
        "truncated": c.truncated,
        "nlu_available": c.nlu_available,
    }


@nlu_app.command("train")
def train_command(
    force: Annotated[bool, typer.Option(help="Train even when data and config are unchanged")] = False,
    config: Annotated[Path | None, typer.Option(help="Pipeline file (default bot/nlu/config.yml)")] = None,
) -> None:
    """Train the NLU model (skipped when the data and config are unchanged)."""
    result = train(_settings(), force=force, config=config)
    if result.trained:
        typer.echo(f"trained {result.model} in {result.seconds:.0f}s")
    else:
        typer.echo(f"model is up to date: {result.model}")


@nlu_app.command("serve")
def serve_command(
    port: Annotated[int | None, typer.Option(help="Port (default BOT_NLU_PORT)")] = None,
) -> None:
    """Run the Rasa server on 127.0.0.1 until interrupted."""
    settings = _settings()

    async def run() -> None:
        server = await start_managed_server(settings, port=port or settings.nlu_port)
        typer.echo(f"Rasa NLU listening on {server.url} (token: BOT_NLU_TOKEN or printed below)")
        if settings.nlu_token is None:
            typer.echo(f"token: {server.token}")
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        await stop.wait()
        await server.stop()

    asyncio.run(run())


@nlu_app.command("classify")
def classify_command() -> None:
    """Read messages from stdin (one per line), write one JSON classification per line."""
    settings = _settings()

    async def run() -> None:
        async with nlu_runtime(settings, start_if_unreachable=True) as nlu:
            while True:
                line = await asyncio.to_thread(sys.stdin.readline)
                if not line:
                    break
                text = line.rstrip("\r\n")
                result = await nlu.classifier.classify(text)
                sys.stdout.write(json.dumps(classification_json(result, text), ensure_ascii=False) + "\n")
                sys.stdout.flush()

    asyncio.run(run())


@nlu_app.command("eval")
def eval_command(
    file: Annotated[Path, typer.Argument(help="JSONL lines {text, intent, dispute_type, risk}", exists=True)],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Score the classifier on a labelled set."""
    settings = _settings()
    gold = read_gold(file)
    codes = list(DisputeCatalog.load(settings.knowledge_dir).codes)

    async def run() -> list[Predicted]:
        async with nlu_runtime(settings, start_if_unreachable=True, train_if_stale=False) as nlu:
            results = [await nlu.classifier.classify(g.text) for g in gold]
        return [
            Predicted(r.intent.value if r.intent else None, r.dispute_type, r.urgent, r.risk.value)
            for r in results
        ]

    report = score(gold, run_scoring(run()), codes)
    if "sealed" in file.resolve().parts:
        report = withhold_texts(report)  # scored once, never read: no texts to tune to
    typer.echo(
        json.dumps(report.as_dict(), ensure_ascii=False, indent=2) if as_json else format_report(report)
    )
