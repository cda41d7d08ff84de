"""Scoring the report conversation's understanding on a labelled set (docs/labelling-moves.md):
which repair move a reply makes at a pending question, and which details a first message gives.

The headline figure is **moves stored as answers**: a correction, a change of mind or a refusal
that the form would have stored as the pending detail — the failure residents notice most.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from bot.dialogs import extract, parsing
from bot.dialogs.flows.report import empty_answer
from bot.dialogs.move_model import MoveModel
from bot.dialogs.moves import MoveKind, read_move
from bot.nlu.labels import Intent

FIELDS: dict[str, Callable[[str], str | None]] = {
    "place": extract.place,
    "occurred": extract.occurred,
    "other_party": extract.other_party,
    "name": extract.name,
    "phone": parsing.parse_phone,
}
#: Slots numbered as the report's summary numbers them ("第5条" = other_party).
SUMMARY_ORDER = ("dispute_type", "description", "place", "occurred", "other_party", "name", "phone")


def read_items(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


def _overlaps(predicted: str | None, gold: str | None) -> bool:
    if not predicted or not gold:
        return False
    return gold in predicted or predicted in gold


@dataclass
class MoveScore:
    total: int = 0
    correct: int = 0
    repairs: int = 0
    repairs_stored: int = 0  # a move read as an answer: its text would be stored
    answers: int = 0
    answers_taken_as_moves: int = 0
    corrections: int = 0
    correction_slot_right: int = 0
    correction_values: int = 0
    correction_value_right: int = 0
    confusion: Counter[tuple[str, str]] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        def pct(n: int, d: int) -> float:
            return round(100 * n / d, 1) if d else 0.0

        return {
            "replies": self.total,
            "move_accuracy": pct(self.correct, self.total),
            "moves_stored_as_answers": pct(self.repairs_stored, self.repairs),
            "answers_taken_as_moves": pct(self.answers_taken_as_moves, self.answers),
            "correction_slot": pct(self.correction_slot_right, self.corrections),
            "correction_value": pct(self.correction_value_right, self.correction_values),
        }


def score_moves(
    items: list[dict[str, Any]],
    intents: dict[str, Intent | None] | None = None,
    *,
    learned: MoveModel | Literal["shipped"] | None = "shipped",
) -> MoveScore:
    result = MoveScore()
    for item in items:
        if item.get("kind") != "move":
            continue
        intent = (intents or {}).get(item["text"])
        move = read_move(item["text"], item["pending"], intent, learned=learned, known=item.get("known"))
        predicted = move.kind.value if move else "answer"
        if move is not None and move.kind is MoveKind.CORRECTION and move.slot == item["pending"]:
            predicted = "answer"  # correcting the answer being given is answering
        if move is None and empty_answer(item["pending"], item["text"]):
            predicted = "decline"  # "匿名", "跳过": the detail stays empty, as a refusal would
        gold = item["move"]
        result.total += 1
        result.correct += predicted == gold
        result.confusion[(gold, predicted)] += 1
        if gold == "answer":
            result.answers += 1
            result.answers_taken_as_moves += predicted != "answer"
        else:
            result.repairs += 1
            result.repairs_stored += predicted == "answer"
        if gold == "correction" and move is not None and predicted == "correction":
            result.corrections += 1
            slot = move.slot
            if slot and slot.startswith("#"):
                number = int(slot[1:])
                slot = SUMMARY_ORDER[number - 1] if 1 <= number <= len(SUMMARY_ORDER) else None
            result.correction_slot_right += slot == item["slot"]
            if item.get("value"):
                result.correction_values += 1
                result.correction_value_right += _overlaps(move.value, item["value"])
    return result


@dataclass
class FieldScore:
    found: int = 0  # predicted and right
    wrong: int = 0  # predicted, but not what the message says (or it says nothing)
    missed: int = 0  # the message says it, nothing predicted

    def as_dict(self) -> dict[str, float]:
        predicted = self.found + self.wrong
        said = self.found + self.missed
        return {
            "precision": round(100 * self.found / predicted, 1) if predicted else 0.0,
            "recall": round(100 * self.found / said, 1) if said else 0.0,
        }


def score_extraction(items: list[dict[str, Any]]) -> dict[str, FieldScore]:
    scores = {name: FieldScore() for name in FIELDS}
    for item in items:
        if item.get("kind") != "first_message":
            continue
        for name, read in FIELDS.items():
            predicted, gold = read(item["text"]), item.get(name)
            if predicted and _overlaps(predicted, gold):
                scores[name].found += 1
            elif predicted:
                scores[name].wrong += 1
            elif gold:
                scores[name].missed += 1
    return scores
