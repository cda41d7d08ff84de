"""One classification of a resident's message: normalise, apply the urgent rules, ask Rasa, and
combine the answers into the label contract (intent, dispute type, urgent)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Protocol

from bot.nlu.client import NluUnavailable, ParseResult
from bot.nlu.labels import Intent, split_label
from bot.nlu.normalize import normalize, normalize_text
from bot.nlu.urgent import RuleVerdict, UrgentMatch, UrgentRules


class Parser(Protocol):
    async def parse(self, text: str) -> ParseResult: ...


@dataclass(frozen=True, slots=True)
class Classification:
    #: The normalised text the decision was made on.
    text: str
    #: ``None`` only when the NLU is unavailable and no rule fired: callers offer a numbered menu.
    intent: Intent | None
    dispute_type: str | None
    confidence: float
    #: The combined rule + model verdict; when true, ``intent`` is ``urgent_risk``.
    urgent: bool
    urgent_categories: tuple[str, ...] = ()
    #: The model was unsure (Rasa's fallback fired): callers should confirm before acting.
    low_confidence: bool = False
    nlu_available: bool = True
    truncated: bool = False
    phones: tuple[str, ...] = field(default_factory=tuple)
    case_numbers: tuple[str, ...] = field(default_factory=tuple)

    @property
    def self_harm(self) -> bool:
        return "self_harm" in self.urgent_categories


def _marginals(ranking: tuple[tuple[str, float], ...]) -> tuple[dict[str, float], dict[str, float]]:
    """Sum label confidences per intent and per dispute type."""
    intents: dict[str, float] = defaultdict(float)
    types: dict[str, float] = defaultdict(float)
    for label, confidence in ranking:
        intent, dispute_type = split_label(label)
        intents[intent] += confidence
        if dispute_type:
            types[dispute_type] += confidence
    return intents, types


class Classifier:
    def __init__(
        self, parser: Parser, rules: UrgentRules, *, max_chars: int, urgent_threshold: float = 0.5
    ) -> None:
        self._parser = parser
        self._rules = rules
        self._max_chars = max_chars
        self._urgent_threshold = urgent_threshold

    def is_urgent(self, raw_text: str) -> bool:
        """The rule layer alone (no model call): cheap enough to run on every message."""
        return self._rules.check(normalize_text(raw_text)).verdict is RuleVerdict.URGENT

    async def classify(self, raw_text: str) -> Classification:
        normalized = normalize(raw_text, self._max_chars)
        # The rules read the whole message: a threat at the end of a long story must not be cut off.
        rule = self._rules.check(normalize_text(raw_text) if normalized.truncated else normalized.text)
        if not normalized.text:
            return self._without_model(normalized.text, rule, truncated=False, available=True)
        try:
            parsed = await self._parser.parse(normalized.text)
        except NluUnavailable:
            return self._without_model(normalized.text, rule, truncated=normalized.truncated, available=False)
        return self._combine(normalized.text, rule, parsed, truncated=normalized.truncated)

    def _without_model(
        self, text: str, rule: UrgentMatch, *, truncated: bool, available: bool
    ) -> Classification:
        urgent = rule.verdict is RuleVerdict.URGENT
        return Classification(
            text=text,
            intent=Intent.URGENT_RISK if urgent else None,
            dispute_type=None,
            confidence=1.0 if urgent else 0.0,
            urgent=urgent,
            urgent_categories=rule.categories if urgent else (),
            low_confidence=not urgent,
            nlu_available=available,
            truncated=truncated,
        )

    def _combine(
        self, text: str, rule: UrgentMatch, parsed: ParseResult, *, truncated: bool
    ) -> Classification:
        intents, types = _marginals(parsed.ranking or ((parsed.label, parsed.confidence),))
        known = {k: v for k, v in intents.items() if k in Intent.__members__.values()}
        best = max(known, key=known.__getitem__) if known else Intent.OUT_OF_SCOPE.value
        intent = Intent(best)
        confidence = known.get(best, 0.0)
        model_urgent = intent is Intent.URGENT_RISK and confidence >= self._urgent_threshold
        urgent = rule.verdict is RuleVerdict.URGENT or (model_urgent and rule.verdict is not RuleVerdict.PAST)
        if intent is Intent.URGENT_RISK and not urgent:
            # The model leaned to urgent but the rules say it is about the past: next best intent.
            rest = {k: v for k, v in known.items() if k != Intent.URGENT_RISK.value}
            if rest:
                best = max(rest, key=rest.__getitem__)
                intent, confidence = Intent(best), rest[best]
        dispute_type = None
        if urgent:
            intent = Intent.URGENT_RISK
            confidence = max(confidence, 1.0 if rule.verdict is RuleVerdict.URGENT else confidence)
        elif intent.carries_dispute_type:
            dispute_type = max(types, key=types.__getitem__) if types else "other"
        phones = tuple(e.value for e in parsed.entities if e.entity == "phone")
        case_numbers = tuple(e.value.upper() for e in parsed.entities if e.entity == "case_no")
        return Classification(
            text=text,
            intent=intent,
            dispute_type=dispute_type,
            confidence=round(confidence, 4),
            urgent=urgent,
            urgent_categories=rule.categories if urgent else (),
            low_confidence=parsed.fallback and not urgent,
            nlu_available=True,
            truncated=truncated,
            phones=phones,
            case_numbers=case_numbers,
        )
