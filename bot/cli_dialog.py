"""``bot dialog eval FILE.jsonl``: how well the report conversation reads replies mid-report
(repair moves) and first messages (place, time, other party, name, phone), on a set labelled by
docs/labelling-moves.md."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from bot.cli_scoring import run_scoring
from bot.dialogs.evaluation import read_items, score_extraction, score_moves
from bot.logs import configure_logging
from bot.nlu.labels import Intent
from bot.nlu.runtime import nlu_runtime
from bot.settings import Settings

dialog_app = typer.Typer(
    help="The conversation's own understanding (repair moves, details).", no_args_is_help=True
)


def _intents(texts: list[str], settings: Settings) -> dict[str, Intent | None]:
    async def run() -> dict[str, Intent | None]:
        async with nlu_runtime(settings, start_if_unreachable=True, train_if_stale=False) as nlu:
            return {text: (await nlu.classifier.classify(text)).intent for text in texts}

    return run_scoring(run())


@dialog_app.command("eval")
def eval_command(
    file: Annotated[Path, typer.Argument(help="JSONL items of docs/labelling-moves.md", exists=True)],
    nlu: Annotated[bool, typer.Option(help="Give the rules the NLU's intent, as the live bot does")] = True,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Score the repair moves and the extractors on a labelled set."""
    settings = Settings()
    configure_logging(settings.log_level)
    items = read_items(file)
    texts = [item["text"] for item in items if item.get("kind") == "move"]
    intents = _intents(texts, settings) if nlu else None
    moves = score_moves(items, intents)
    report: dict[str, Any] = {
        "moves": moves.as_dict(),
        "extraction": {name: s.as_dict() for name, s in score_extraction(items).items()},
        "confusions": {f"{g} -> {p}": n for (g, p), n in moves.confusion.most_common() if g != p},
    }
    if as_json:
        typer.echo(json.dumps(report, ensure_ascii=False, indent=2))
        return
    m = report["moves"]
    typer.echo(
        f"{m['replies']} replies mid-report: move read right {m['move_accuracy']}%, "
        f"moves stored as answers {m['moves_stored_as_answers']}%, "
        f"answers taken as moves {m['answers_taken_as_moves']}%, "
        f"corrected detail right {m['correction_slot']}%, new value right {m['correction_value']}%"
    )
    for name, figures in report["extraction"].items():
        typer.echo(f"  {name:<12} precision {figures['precision']:>5}%  recall {figures['recall']:>5}%")
    for confusion, count in report["confusions"].items():
        typer.echo(f"  {confusion}: {count}")
