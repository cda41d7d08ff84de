"""A learned second opinion on what a reply does in the middle of a form.

The rules in ``bot/dialogs/moves.py`` know the usual wordings of a correction, a change of mind or
a refusal; residents find others ("哦其实是7栋", "俺记岔了", "唔搞啦", "俺没手机"). This model reads
the reply's characters, the pending question and what the rules made of it, and says how likely
each move is. It is learned from batches written by separate writers (``move_corpus/``,
docs/labelling-moves.md) by ``scripts/train_move_model.py``; the weights are data
(``move_model.json``) and run in pure Python, in the bot's process: it works when the NLU is down.
"""

from __future__ import annotations

import json
import math
import random
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from bot.dialogs import extract, parsing
from bot.nlu.normalize import normalize_text

WEIGHTS_FILE = Path(__file__).with_name("move_model.json")
CORPUS_DIR = Path(__file__).with_name("move_corpus")
ANSWER = "answer"
CLASSES = ("answer", "correction", "cancel", "only_ask", "decline", "side_question", "back", "handoff")
#: The writers' replies run to about 80 characters; a longer text (a story told at "发生了什么？")
#: is outside what the model has seen, and the rules alone judge it.
LONGEST = 80
_DETAILS = {
    "place": extract.place,
    "occurred": extract.occurred,
    "other_party": extract.other_party,
    "name": extract.name,
}


#: Length buckets of a reply: "是", "上一步", a short answer, a sentence, a story.
_LENGTHS = ((2, "xs"), (5, "s"), (10, "m"), (20, "l"))


def _length(n: int) -> str:
    return next((label for limit, label in _LENGTHS if n <= limit), "xl")


def features(text: str, pending: str | None, rule: str) -> list[str]:
    """What the model sees of a reply: its characters (1–3-grams, some tied to the pending
    question), its length, what the rules read, and signals the form's own readers give."""
    clean = normalize_text(text).lower().replace(" ", "")
    at = pending or "none"
    padded = f"^{clean}$"
    found = {"bias", f"p={at}", f"rule={rule}", f"p={at}|rule={rule}", f"len={_length(len(clean))}"}
    found.add(f"p={at}|len={_length(len(clean))}")
    for n in (1, 2, 3):
        for i in range(len(padded) - n + 1):
            gram = padded[i : i + n]
            found.add(f"{n}:{gram}")
            if n == 2:
                found.add(f"p={at}|2:{gram}")
    if parsing.find_phones(clean):
        found.add("has_phone")
    if parsing.is_yes(clean):
        found.add("yes")
    if parsing.is_no(clean):
        found.add("no")
    for detail, read in _DETAILS.items():
        if read(clean):
            found.add("detail=pending" if detail == pending else "detail=other")
    return sorted(found)


@dataclass(frozen=True, slots=True)
class MoveModel:
    classes: tuple[str, ...]
    weights: dict[str, tuple[float, ...]]
    #: A reply the rules took for an answer is a move when the model gives the move this much.
    threshold: float
    #: A move the rules saw is kept unless the model gives "answer" this much.
    veto: float

    def probabilities(self, feats: Iterable[str]) -> dict[str, float]:
        scores = [0.0] * len(self.classes)
        for feat in feats:
            row = self.weights.get(feat)
            if row is not None:
                scores = [s + w for s, w in zip(scores, row, strict=True)]
        top = max(scores)
        exps = [math.exp(s - top) for s in scores]
        total = sum(exps)
        return {c: e / total for c, e in zip(self.classes, exps, strict=True)}

    def judge(self, text: str, pending: str | None, rule: str) -> dict[str, float] | None:
        """The move probabilities, or None for a text too long for the model to judge."""
        if len(text) > LONGEST:
            return None
        return self.probabilities(features(text, pending, rule))

    @classmethod
    def load(cls, path: Path = WEIGHTS_FILE) -> MoveModel:
        data = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            classes=tuple(data["classes"]),
            weights={k: tuple(v) for k, v in data["weights"].items()},
            threshold=float(data["threshold"]),
            veto=float(data["veto"]),
        )

    def to_json(self, **provenance: object) -> dict[str, object]:
        return {
            **provenance,
            "classes": list(self.classes),
            "threshold": self.threshold,
            "veto": self.veto,
            "weights": {k: [round(w, 4) for w in v] for k, v in sorted(self.weights.items())},
        }


@cache
def shipped() -> MoveModel | None:
    """The model the bot ships, or None when the weights file is absent (the rules alone)."""
    return MoveModel.load() if WEIGHTS_FILE.exists() else None


def fit(
    examples: Sequence[tuple[list[str], str]],
    *,
    epochs: int = 40,
    rate: float = 0.1,
    l2: float = 1e-3,
    min_count: int = 2,
    seed: int = 7,
) -> dict[str, tuple[float, ...]]:
    """Multinomial logistic regression by AdaGrad over binary features; features seen fewer
    than ``min_count`` times are dropped (they would only memorise one writer's sentence)."""
    counts = Counter(f for feats, _ in examples for f in feats)
    kept = [([f for f in feats if counts[f] >= min_count], CLASSES.index(label)) for feats, label in examples]
    k = len(CLASSES)
    weights: dict[str, list[float]] = {}
    squares: dict[str, list[float]] = {}
    order = list(range(len(kept)))
    shuffle = random.Random(seed).shuffle  # noqa: S311 -- a reproducible order, not a secret
    for _ in range(epochs):
        shuffle(order)
        for index in order:
            feats, label = kept[index]
            rows = [weights.setdefault(f, [0.0] * k) for f in feats]
            scores = [sum(row[c] for row in rows) for c in range(k)]
            top = max(scores)
            exps = [math.exp(s - top) for s in scores]
            total = sum(exps)
            grads = [e / total - (c == label) for c, e in enumerate(exps)]
            for f, row in zip(feats, rows, strict=True):
                square = squares.setdefault(f, [1e-8] * k)
                for c in range(k):
                    g = grads[c] + l2 * row[c]
                    square[c] += g * g
                    row[c] -= rate * g / math.sqrt(square[c])
    return {f: tuple(row) for f, row in weights.items() if any(abs(w) >= 1e-3 for w in row)}
