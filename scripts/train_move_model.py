"""Train the learned move reader (bot/dialogs/move_model.py) on the writers' batches in
bot/dialogs/move_corpus/, choose its two thresholds on the dev set (tests/data/moves_dev.jsonl),
print cross-validation and dev figures, and write bot/dialogs/move_model.json.

Never reads a sealed set: those are scored once, with `bot dialog eval`, after this has run.
"""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path
from typing import Any

from bot.dialogs.evaluation import read_items, score_moves
from bot.dialogs.move_model import CLASSES, CORPUS_DIR, WEIGHTS_FILE, MoveModel, features, fit
from bot.dialogs.moves import rule_move

DEV = Path("tests/data/moves_dev.jsonl")
THRESHOLDS = [round(0.1 + 0.05 * i, 2) for i in range(17)]
VETOES = [0.8, 0.9, 0.95, 0.99, 1.01]  # 1.01: never veto the rules


def _examples(items: list[dict[str, Any]]) -> list[tuple[list[str], str]]:
    examples = []
    for item in items:
        rule = rule_move(item["text"].strip(), item["pending"])
        examples.append(
            (features(item["text"], item["pending"], rule.kind.value if rule else "answer"), item["move"])
        )
    return examples


def _objective(items: list[dict[str, Any]], model: MoveModel) -> tuple[int, int]:
    score = score_moves(items, learned=model)
    # Most replies read right; among equals, fewer answers taken for moves (a resident's answer
    # thrown away costs them a retyping, a move stored as an answer costs a wrong record).
    return score.correct, -score.answers_taken_as_moves


def _figures(items: list[dict[str, Any]], model: MoveModel | None) -> str:
    m = score_moves(items, learned=model).as_dict()
    return (
        f"move read right {m['move_accuracy']}%, stored as answers {m['moves_stored_as_answers']}%, "
        f"answers taken as moves {m['answers_taken_as_moves']}%"
    )


def main() -> int:
    files = sorted(CORPUS_DIR.glob("*.jsonl"))
    batches = {path.name: [item for item in read_items(path) if item.get("kind") == "move"] for path in files}
    corpus = [item for batch in batches.values() for item in batch]
    dev = [item for item in read_items(DEV) if item.get("kind") == "move"]
    classes = CLASSES
    # Each batch judged by a model trained on the others: how the model fares on a writer it has
    # not read. The thresholds are chosen on these and on the dev set together.
    crossed = [
        (batch, fit(_examples([item for other, items in batches.items() if other != name for item in items])))
        for name, batch in batches.items()
    ]
    weights = fit(_examples(corpus))
    best: tuple[tuple[int, int], float, float] | None = None
    for veto in VETOES:
        for threshold in THRESHOLDS:
            scores = [_objective(dev, MoveModel(classes, weights, threshold, veto))]
            scores += [_objective(batch, MoveModel(classes, w, threshold, veto)) for batch, w in crossed]
            objective = (sum(s[0] for s in scores), sum(s[1] for s in scores))
            if best is None or objective > best[0]:
                best = (objective, threshold, veto)
    if best is None:
        raise SystemExit("no thresholds to choose from")
    _, threshold, veto = best
    model = MoveModel(classes, weights, threshold, veto)
    print(f"corpus: {len(corpus)} replies from {len(files)} batches; features kept: {len(weights)}")
    print(f"chosen on the dev set and across batches: threshold {threshold}, veto {veto}")
    print(f"dev (the rules were tuned on it), rules alone:   {_figures(dev, None)}")
    print(f"dev (the rules were tuned on it), rules + model: {_figures(dev, model)}")
    for (batch, w), name in zip(crossed, batches, strict=True):
        print(f"{name} by a model trained on the other batches, rules alone:   {_figures(batch, None)}")
        print(
            f"{name} by a model trained on the other batches, rules + model: "
            f"{_figures(batch, MoveModel(classes, w, threshold, veto))}"
        )
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in files)).hexdigest()
    provenance = {"corpus": [path.name for path in files], "corpus_sha256": digest}
    WEIGHTS_FILE.write_text(
        json.dumps(model.to_json(**provenance), ensure_ascii=False, separators=(",", ":")) + "\n",
        encoding="utf-8",
    )
    print(f"wrote {WEIGHTS_FILE} ({WEIGHTS_FILE.stat().st_size // 1024} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
