"""Scoring the classifier on a labelled set (``bot nlu eval``).

Gold lines are ``{"text", "intent", "dispute_type", "risk"}`` (docs/labelling.md); a line without
``risk`` is ``alarm`` when its intent is ``urgent_risk`` and ``none`` otherwise. Danger is scored
as the issue that set the targets does: a dangerous message (gold ``alarm`` or ``check``) is
caught when the bot answers ``alarm`` or ``check``; a calm one is alarmed or checked when it does.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bot.nlu.labels import Intent


@dataclass(frozen=True, slots=True)
class Gold:
    text: str
    intent: str
    dispute_type: str | None
    risk: str = "none"

    @property
    def dangerous(self) -> bool:
        return self.risk != "none"


@dataclass(frozen=True, slots=True)
class Predicted:
    intent: str | None
    dispute_type: str | None
    urgent: bool
    risk: str = "none"


def read_gold(path: Path) -> list[Gold]:
    items: list[Gold] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            raw = json.loads(line)
            intent = str(raw["intent"])
            risk = str(raw.get("risk") or ("alarm" if intent == Intent.URGENT_RISK else "none"))
            items.append(Gold(str(raw["text"]), intent, raw.get("dispute_type"), risk))
        except (ValueError, KeyError) as exc:
            raise ValueError(
                f"{path}:{number}: expected {{'text', 'intent', 'dispute_type'}}: {exc}"
            ) from exc
    return items


@dataclass(frozen=True, slots=True)
class PerClass:
    precision: float
    recall: float
    f1: float
    support: int


def _per_class(pairs: list[tuple[str, str]], labels: list[str]) -> dict[str, PerClass]:
    result = {}
    for label in labels:
        tp = sum(1 for g, p in pairs if g == label and p == label)
        fp = sum(1 for g, p in pairs if g != label and p == label)
        fn = sum(1 for g, p in pairs if g == label and p != label)
        precision = tp / (tp + fp) if tp + fp else 0.0
        recall = tp / (tp + fn) if tp + fn else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        result[label] = PerClass(precision, recall, f1, tp + fn)
    return result


@dataclass(frozen=True, slots=True)
class Report:
    count: int
    intent_accuracy: float
    dispute_type_accuracy: float
    dispute_type_macro_f1: float
    per_type: dict[str, PerClass]
    per_intent: dict[str, PerClass]
    confusions: list[tuple[str, str, int]]
    urgent_recall: float
    urgent_false_alarm_rate: float
    urgent_missed: list[str] = field(default_factory=list)
    urgent_false_alarms: list[str] = field(default_factory=list)
    #: Dangerous messages (gold alarm or check) and calm ones.
    dangerous: int = 0
    calm: int = 0
    danger_caught: float = 1.0
    calm_alarmed: float = 0.0
    calm_checked: float = 0.0
    danger_missed: list[str] = field(default_factory=list)
    calm_alarmed_texts: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "intent_accuracy": round(self.intent_accuracy, 4),
            "dispute_type_accuracy": round(self.dispute_type_accuracy, 4),
            "dispute_type_macro_f1": round(self.dispute_type_macro_f1, 4),
            "urgent_recall": round(self.urgent_recall, 4),
            "urgent_false_alarm_rate": round(self.urgent_false_alarm_rate, 4),
            "dangerous": self.dangerous,
            "calm": self.calm,
            "danger_caught": round(self.danger_caught, 4),
            "calm_alarmed": round(self.calm_alarmed, 4),
            "calm_checked": round(self.calm_checked, 4),
            "per_type": {k: {"precision": round(v.precision, 3), "recall": round(v.recall, 3),
                             "f1": round(v.f1, 3), "support": v.support} for k, v in self.per_type.items()},
            "confusions": [{"gold": g, "predicted": p, "count": c} for g, p, c in self.confusions],
            "urgent_missed": self.urgent_missed,
            "urgent_false_alarms": self.urgent_false_alarms,
            "danger_missed": self.danger_missed,
            "calm_alarmed_texts": self.calm_alarmed_texts,
        }  # fmt: skip


def score(gold: list[Gold], predicted: list[Predicted], dispute_codes: list[str]) -> Report:
    if len(gold) != len(predicted):
        raise ValueError("gold and predicted lists differ in length")
    n = len(gold)
    intent_pairs = [(g.intent, p.intent or "none") for g, p in zip(gold, predicted, strict=True)]
    typed = [(g, p) for g, p in zip(gold, predicted, strict=True) if g.dispute_type]
    type_pairs = [(g.dispute_type or "", p.dispute_type or "none") for g, p in typed]
    per_type = _per_class(type_pairs, dispute_codes)
    present = [c for c in dispute_codes if per_type[c].support]
    confusions = Counter(
        (f"{g.intent}/{g.dispute_type}" if g.dispute_type else g.intent,
         f"{p.intent}/{p.dispute_type}" if p.dispute_type else str(p.intent))
        for g, p in zip(gold, predicted, strict=True)
        if (g.intent, g.dispute_type) != (p.intent, p.dispute_type)
    )  # fmt: skip
    urgent_gold = [(g, p) for g, p in zip(gold, predicted, strict=True) if g.intent == Intent.URGENT_RISK]
    calm_gold = [(g, p) for g, p in zip(gold, predicted, strict=True) if g.intent != Intent.URGENT_RISK]
    danger = [(g, p) for g, p in zip(gold, predicted, strict=True) if g.dangerous]
    calm = [(g, p) for g, p in zip(gold, predicted, strict=True) if not g.dangerous]
    return Report(
        count=n,
        intent_accuracy=sum(g == p for g, p in intent_pairs) / n if n else 0.0,
        dispute_type_accuracy=sum(g == p for g, p in type_pairs) / len(type_pairs) if type_pairs else 0.0,
        dispute_type_macro_f1=sum(per_type[c].f1 for c in present) / len(present) if present else 0.0,
        per_type=per_type,
        per_intent=_per_class(intent_pairs, [i.value for i in Intent]),
        confusions=[(g, p, c) for (g, p), c in confusions.most_common(15)],
        urgent_recall=sum(p.urgent for _, p in urgent_gold) / len(urgent_gold) if urgent_gold else 1.0,
        urgent_false_alarm_rate=sum(p.urgent for _, p in calm_gold) / len(calm_gold) if calm_gold else 0.0,
        urgent_missed=[g.text for g, p in urgent_gold if not p.urgent],
        urgent_false_alarms=[g.text for g, p in calm_gold if p.urgent],
        dangerous=len(danger),
        calm=len(calm),
        danger_caught=sum(p.risk != "none" for _, p in danger) / len(danger) if danger else 1.0,
        calm_alarmed=sum(p.risk == "alarm" for _, p in calm) / len(calm) if calm else 0.0,
        calm_checked=sum(p.risk == "check" for _, p in calm) / len(calm) if calm else 0.0,
        danger_missed=[g.text for g, p in danger if p.risk == "none"],
        calm_alarmed_texts=[g.text for g, p in calm if p.risk == "alarm"],
    )


def withhold_texts(report: Report) -> Report:
    """The figures without the messages: a sealed set's texts stay unread by whoever scores it."""
    return replace(report, urgent_missed=[], urgent_false_alarms=[], danger_missed=[], calm_alarmed_texts=[])


def format_report(report: Report) -> str:
    lines = [
        f"messages:                 {report.count}",
        f"intent accuracy:          {report.intent_accuracy:.1%}",
        f"dispute-type accuracy:    {report.dispute_type_accuracy:.1%}",
        f"dispute-type macro-F1:    {report.dispute_type_macro_f1:.3f}",
        f"urgent recall:            {report.urgent_recall:.1%}",
        f"urgent false-alarm rate:  {report.urgent_false_alarm_rate:.1%}",
        f"danger caught (alarm or check): {report.danger_caught:.1%} of {report.dangerous}",
        f"calm messages alarmed:    {report.calm_alarmed:.1%} of {report.calm}",
        f"calm messages checked:    {report.calm_checked:.1%}",
        "",
        f"{'dispute type':<16}{'precision':>10}{'recall':>8}{'f1':>7}{'n':>5}",
    ]
    for code, m in report.per_type.items():
        lines.append(f"{code:<16}{m.precision:>10.2f}{m.recall:>8.2f}{m.f1:>7.2f}{m.support:>5}")
    lines += ["", f"{'intent':<16}{'precision':>10}{'recall':>8}{'f1':>7}{'n':>5}"]
    for code, m in report.per_intent.items():
        if m.support:
            lines.append(f"{code:<16}{m.precision:>10.2f}{m.recall:>8.2f}{m.f1:>7.2f}{m.support:>5}")
    if report.confusions:
        lines += ["", "most frequent confusions (gold -> predicted):"]
        lines += [f"  {c:>3} × {g} -> {p}" for g, p, c in report.confusions]
    if report.urgent_missed:
        lines += ["", "urgent messages missed:"] + [f"  - {t}" for t in report.urgent_missed]
    if report.urgent_false_alarms:
        lines += ["", "false alarms:"] + [f"  - {t}" for t in report.urgent_false_alarms]
    if report.danger_missed:
        lines += ["", "danger missed (answered none):"] + [f"  - {t}" for t in report.danger_missed]
    return "\n".join(lines)
