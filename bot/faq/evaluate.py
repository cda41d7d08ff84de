"""Scoring FAQ retrieval on a labelled set (``bot faq eval``).

A set is JSON lines ``{"text": ..., "faq_id": ...}``; ``faq_id`` is null when no FAQ should
answer. Each question is searched exactly as the legal flow does (``index.search(text,
dispute_type=<the NLU's type>)``, then ``.best``, None meaning "not sure"), so the figures are
what residents would get:

- top-1: on answerable questions, the answer given is the right FAQ;
- top-3: the right FAQ is among the three candidates (what the console's 试问 box shows);
- wrong answer / not sure: the other two outcomes on answerable questions;
- false answer: on unanswerable questions, the bot answered anything at all.

The goal the issue sets: top-1 ≥ 85%, and answering wrongly (a wrong FAQ, or any FAQ to an
unanswerable question) less often than saying "not sure".
"""

from __future__ import annotations

import json
import statistics
import time
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bot.faq.index import FaqIndex

#: The topic of FAQs without a dispute type (fees, mediation, legal aid, time limits…).
GENERAL = "general"
#: The row of questions that no FAQ should answer.
UNANSWERABLE = "(none)"


class EvalFileError(ValueError):
    """A line of the set is broken or names an FAQ that does not exist; the message names the line."""


@dataclass(frozen=True, slots=True)
class Question:
    line: int
    text: str
    faq_id: str | None


def read_questions(path: Path, known_ids: Collection[str]) -> list[Question]:
    questions: list[Question] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        where = f"{path}:{number}"
        try:
            raw = json.loads(line)
        except ValueError as exc:
            raise EvalFileError(f"{where}: not valid JSON: {exc}") from exc
        if not isinstance(raw, dict) or not isinstance(raw.get("text"), str) or "faq_id" not in raw:
            raise EvalFileError(f'{where}: expected {{"text": "...", "faq_id": "..." or null}}')
        faq_id = raw["faq_id"]
        if faq_id is not None and (not isinstance(faq_id, str) or faq_id not in known_ids):
            raise EvalFileError(f"{where}: no FAQ has the id {faq_id!r}")
        questions.append(Question(number, raw["text"], faq_id))
    return questions


@dataclass(frozen=True, slots=True)
class Outcome:
    question: Question
    #: The FAQ the bot answers with; None when it says it is not sure.
    answered: str | None
    candidates: tuple[str, ...]
    seconds: float

    @property
    def right(self) -> bool:
        return self.question.faq_id is not None and self.answered == self.question.faq_id

    @property
    def wrong(self) -> bool:
        """A wrong FAQ, or any FAQ to a question none should answer."""
        return self.answered is not None and self.answered != self.question.faq_id


def answer(index: FaqIndex, question: Question, *, text: str, dispute_type: str | None) -> Outcome:
    """``text``: the question as the NLU normalised it; ``dispute_type``: the NLU's type (the
    bot boosts FAQs of that type), None without the NLU."""
    start = time.perf_counter()
    result = index.search(text, dispute_type=dispute_type)
    best = result.best
    seconds = time.perf_counter() - start
    candidates = tuple(c.faq.id for c in result.candidates)
    return Outcome(question, best.id if best else None, candidates, seconds)


@dataclass(slots=True)
class Tally:
    """Outcomes of answerable questions."""

    questions: int = 0
    right: int = 0
    in_top3: int = 0
    wrong: int = 0
    not_sure: int = 0

    def add(self, outcome: Outcome) -> None:
        self.questions += 1
        self.right += outcome.right
        self.in_top3 += outcome.question.faq_id in outcome.candidates
        self.wrong += outcome.wrong
        self.not_sure += outcome.answered is None

    def rate(self, count: int) -> float:
        return count / self.questions if self.questions else 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "questions": self.questions,
            "top1": round(self.rate(self.right), 4),
            "top3": round(self.rate(self.in_top3), 4),
            "wrong_answer_rate": round(self.rate(self.wrong), 4),
            "not_sure_rate": round(self.rate(self.not_sure), 4),
        }


@dataclass(frozen=True, slots=True)
class Report:
    nlu: bool
    threshold: float
    answerable: Tally
    unanswerable: int
    false_answers: int
    per_topic: dict[str, Tally]
    mistakes: list[Outcome] = field(default_factory=list)
    search_ms_p50: float = 0.0
    search_ms_max: float = 0.0

    @property
    def questions(self) -> int:
        return self.answerable.questions + self.unanswerable

    @property
    def false_answer_rate(self) -> float:
        return self.false_answers / self.unanswerable if self.unanswerable else 0.0

    @property
    def wrong_answers(self) -> int:
        """All wrong answers: a wrong FAQ, or an answer to an unanswerable question."""
        return self.answerable.wrong + self.false_answers

    @property
    def not_sure(self) -> int:
        """Every "not sure", on answerable and unanswerable questions alike."""
        return self.answerable.not_sure + self.unanswerable - self.false_answers

    def as_dict(self) -> dict[str, Any]:
        return {
            "nlu": self.nlu,
            "threshold": self.threshold,
            "questions": self.questions,
            "answerable": self.answerable.questions,
            "unanswerable": self.unanswerable,
            **{k: v for k, v in self.answerable.as_dict().items() if k != "questions"},
            "false_answer_rate": round(self.false_answer_rate, 4),
            "wrong_answers": self.wrong_answers,
            "not_sure": self.not_sure,
            "wrong_less_often_than_not_sure": self.wrong_answers < self.not_sure,
            "per_topic": {topic: tally.as_dict() for topic, tally in self.per_topic.items()},
            "search_ms_p50": round(self.search_ms_p50, 3),
            "search_ms_max": round(self.search_ms_max, 3),
            "mistakes": [
                {
                    "line": m.question.line,
                    "text": m.question.text,
                    "expected": m.question.faq_id,
                    "answered": m.answered,
                    "candidates": list(m.candidates),
                }
                for m in self.mistakes
            ],
        }


def score(
    outcomes: Sequence[Outcome], topic_of: Mapping[str, str | None], *, threshold: float, nlu: bool
) -> Report:
    """``topic_of``: each FAQ id's dispute type (None for general FAQs)."""
    answerable = Tally()
    per_topic: dict[str, Tally] = defaultdict(Tally)
    unanswerable = false_answers = 0
    for outcome in outcomes:
        faq_id = outcome.question.faq_id
        if faq_id is None:
            unanswerable += 1
            false_answers += outcome.answered is not None
            continue
        answerable.add(outcome)
        per_topic[topic_of[faq_id] or GENERAL].add(outcome)
    millis = [o.seconds * 1000 for o in outcomes]
    return Report(
        nlu=nlu,
        threshold=threshold,
        answerable=answerable,
        unanswerable=unanswerable,
        false_answers=false_answers,
        per_topic=dict(sorted(per_topic.items())),
        mistakes=[o for o in outcomes if not o.right and (o.question.faq_id or o.answered)],
        search_ms_p50=statistics.median(millis) if millis else 0.0,
        search_ms_max=max(millis, default=0.0),
    )


def _pct(count: int, total: int) -> str:
    return f"{count / total:.1%}" if total else "—"


def format_report(report: Report, *, mistakes: bool = False) -> str:
    a = report.answerable
    verdict = "yes" if report.wrong_answers < report.not_sure else "NO"
    source = "from the NLU, as the bot does" if report.nlu else "none (retrieval alone)"
    lines = [
        f"questions:            {report.questions} ({a.questions} answerable, {report.unanswerable} not)",
        f"dispute type:         {source}",
        f"threshold:            {report.threshold}",
        f"top-1 accuracy:       {_pct(a.right, a.questions)}",
        f"top-3 accuracy:       {_pct(a.in_top3, a.questions)}",
        f"wrong answer:         {_pct(a.wrong, a.questions)} of answerable",
        f"not sure:             {_pct(a.not_sure, a.questions)} of answerable",
        f"false answer:         {_pct(report.false_answers, report.unanswerable)} of unanswerable",
        f"wrong < not sure:     {verdict} ({report.wrong_answers} wrong answers, {report.not_sure} not sure)",
        f"search time:          p50 {report.search_ms_p50:.2f} ms, max {report.search_ms_max:.2f} ms",
        "",
        f"{'topic':<16}{'n':>4}{'top-1':>8}{'top-3':>8}{'wrong':>8}{'unsure':>8}",
    ]
    for topic, t in report.per_topic.items():
        lines.append(
            f"{topic:<16}{t.questions:>4}{_pct(t.right, t.questions):>8}{_pct(t.in_top3, t.questions):>8}"
            f"{_pct(t.wrong, t.questions):>8}{_pct(t.not_sure, t.questions):>8}"
        )
    u, false = report.unanswerable, report.false_answers
    lines.append(f"{UNANSWERABLE:<16}{u:>4}{'':>16}{_pct(false, u):>8}{_pct(u - false, u):>8}")
    if mistakes and report.mistakes:
        lines += ["", "mistakes (line: expected -> answered [candidates]):"]
        for m in report.mistakes:
            expected = m.question.faq_id or "none"
            lines.append(
                f"  {m.question.line}: {expected} -> {m.answered or 'not sure'} {list(m.candidates)}"
            )
            lines.append(f"      {m.question.text}")
    return "\n".join(lines)
