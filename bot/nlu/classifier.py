"""One classification of a resident's message: normalise, apply the urgent rules, ask Rasa, and
combine the answers into the label contract (intent, dispute type, risk tier, urgent).

Danger has three tiers (``Risk``): ``alarm`` (clear imminent danger: the urgent path), ``check``
(possible danger: the bot asks whether the resident is safe) and ``none``. Two judges decide it:

* the rule tier (``knowledge/urgent_patterns.yml``) for the obvious; when it fires the answer is
  ``alarm`` at once, without waiting for the model (a slow or hung Rasa never delays an alarm);
* the danger model in the Rasa pipeline (``RiskClassifier``), which learned situations rather
  than words: its ``alarm`` probability against ``RiskThresholds.alarm`` (an alarm) and
  ``RiskThresholds.ask`` (a question), its ``check`` probability against ``RiskThresholds.check``.

docs/nlu.md ("Danger in three tiers") has the whole rule of combination and how it was chosen.
"""

from __future__ import annotations

import asyncio
import re
from collections import defaultdict
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol

from bot.nlu.client import NluUnavailable, ParseResult
from bot.nlu.labels import Intent, split_label
from bot.nlu.normalize import normalize, normalize_text
from bot.nlu.urgent import RuleVerdict, UrgentMatch, UrgentRules

_PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
_CASE_NO = re.compile(r"TJ\d{8}-\d{4}", re.IGNORECASE)


class Parser(Protocol):
    async def parse(self, text: str) -> ParseResult: ...


class Risk(StrEnum):
    ALARM = "alarm"
    CHECK = "check"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class RiskThresholds:
    #: The danger model's ``alarm`` probability from which it raises an alarm on its own.
    alarm: float = 0.5
    #: The bot asks whether the resident is safe from this ``alarm`` probability ...
    ask: float = 0.14
    #: ... or from this ``check`` probability. Low on purpose: a caring question costs a calm
    #: resident one reply; a missed danger costs more. (The model's ``check`` class is the noisier
    #: of the two, so it needs more evidence than ``alarm`` does.)
    check: float = 0.2
    #: Below this ``alarm`` + ``check`` probability the model turns a rule's alarm into a safety question.
    veto: float = 0.1
    #: Seconds a rule's alarm waits for the model's opinion before it is answered regardless.
    rule_grace: float = 0.3


@dataclass(frozen=True, slots=True)
class Classification:
    #: The normalised text the decision was made on.
    text: str
    #: ``None`` only when the NLU is unavailable and no rule fired: callers offer a numbered menu.
    intent: Intent | None
    dispute_type: str | None
    confidence: float
    #: ``risk is Risk.ALARM``; when true, ``intent`` is ``urgent_risk``.
    urgent: bool
    urgent_categories: tuple[str, ...] = ()
    #: The model was unsure (Rasa's fallback fired): callers should confirm before acting.
    low_confidence: bool = False
    nlu_available: bool = True
    truncated: bool = False
    phones: tuple[str, ...] = field(default_factory=tuple)
    case_numbers: tuple[str, ...] = field(default_factory=tuple)
    #: The danger tier: ``alarm`` (urgent), ``check`` (ask whether the resident is safe), ``none``.
    risk: Risk = Risk.NONE
    #: The danger model's probabilities, when it answered (for evaluation and logs of figures).
    risk_scores: dict[str, float] = field(default_factory=dict)

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


#: Messages this short get at most a safety question from the danger model alone (the rules still alarm).
MODEL_ALARM_MIN_CHARS = 4
#: Replies of a few words ("谢谢", "好的", "不是", "算了不登记了"); a longer message is never one.
SHORT_REPLY_MAX_CHARS = 40
_SHORT_REPLIES = frozenset(
    i.value for i in (Intent.GREET, Intent.GOODBYE, Intent.THANKS, Intent.AFFIRM, Intent.DENY, Intent.CANCEL)
)


class Classifier:
    def __init__(
        self,
        parser: Parser,
        rules: UrgentRules,
        *,
        max_chars: int,
        thresholds: RiskThresholds | None = None,
        unsure_below: float = 0.35,
    ) -> None:
        self._parser = parser
        self._rules = rules
        self._max_chars = max_chars
        self._thresholds = thresholds or RiskThresholds()
        self._unsure_below = unsure_below

    def is_urgent(self, raw_text: str) -> bool:
        """The rule layer alone (no model call): cheap enough to run on every message."""
        return self._rules.check(normalize_text(raw_text)).verdict is RuleVerdict.URGENT

    async def classify(self, raw_text: str) -> Classification:
        normalized = normalize(raw_text, self._max_chars)
        # The rules read the whole message: a threat at the end of a long story must not be cut off.
        rule = self._rules.check(normalize_text(raw_text) if normalized.truncated else normalized.text)
        if not normalized.text:
            return self._without_model(normalized.text, rule, truncated=False, available=True)
        parse = asyncio.ensure_future(self._parser.parse(normalized.text))
        if rule.verdict is RuleVerdict.URGENT:
            # The rules' alarm waits for nobody: the model gets a short grace to veto it (a figure
            # of speech the rules took literally), and a slow or hung Rasa is not waited for.
            done, _ = await asyncio.wait({parse}, timeout=self._thresholds.rule_grace)
            if not done:
                parse.cancel()
                return self._without_model(
                    normalized.text, rule, truncated=normalized.truncated, available=True
                )
        try:
            parsed = await parse
        except NluUnavailable:
            return self._without_model(normalized.text, rule, truncated=normalized.truncated, available=False)
        return self._combine(normalized.text, rule, parsed, truncated=normalized.truncated)

    def _without_model(
        self, text: str, rule: UrgentMatch, *, truncated: bool, available: bool
    ) -> Classification:
        urgent = rule.verdict is RuleVerdict.URGENT
        # Words at a distance or in the past, and no model to judge them: ask, do not alarm.
        wary = rule.verdict in (RuleVerdict.DISTANT, RuleVerdict.PAST) and not available
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
            phones=tuple(dict.fromkeys(_PHONE.findall(text))),
            case_numbers=tuple(dict.fromkeys(m.upper() for m in _CASE_NO.findall(text))),
            risk=Risk.ALARM if urgent else Risk.CHECK if wary else Risk.NONE,
        )

    def _risk(
        self, rule: UrgentMatch, parsed: ParseResult, urgent_marginal: float, *, truncated: bool, size: int
    ) -> Risk:
        """The tier from the rules and the danger model (the intent model's ``urgent_risk`` share
        counts as a second opinion on ``alarm`` when the pipeline has no danger model)."""
        scores = parsed.risk
        alarm = scores.get("alarm", 0.0) if scores else urgent_marginal
        possible = alarm + scores.get("check", 0.0) if scores else urgent_marginal
        limits = self._thresholds
        if rule.verdict is RuleVerdict.URGENT:
            # The model vetoes only what it is sure is calm ("想死你了"); "我真的活不下去了" reads as
            # possible danger to it and stays an alarm. A truncated text it did not see in full.
            calm = scores and possible < limits.veto and not truncated
            return Risk.CHECK if calm else Risk.ALARM
        worrying = alarm >= limits.ask or possible - alarm >= limits.check
        if rule.verdict is RuleVerdict.PAST:
            # Alarming words about the past ("去年他打过我"): never an alarm from the model alone,
            # but a caring question when the model still sees danger.
            return Risk.CHECK if worrying else Risk.NONE
        if alarm >= limits.alarm:
            # A few characters ("今晚", "他又来了") cannot tell a danger from an answer to "什么时候？":
            # the model alone asks about them rather than sounding the alarm.
            return Risk.ALARM if size > MODEL_ALARM_MIN_CHARS else Risk.CHECK
        return Risk.CHECK if worrying else Risk.NONE

    def _combine(
        self, text: str, rule: UrgentMatch, parsed: ParseResult, *, truncated: bool
    ) -> Classification:
        intents, types = _marginals(parsed.ranking or ((parsed.label, parsed.confidence),))
        known = {k: v for k, v in intents.items() if k in Intent.__members__.values()}
        size = len(text.replace(" ", ""))
        risk = self._risk(
            rule, parsed, known.get(Intent.URGENT_RISK.value, 0.0), truncated=truncated, size=size
        )
        urgent = risk is Risk.ALARM
        # The intent model's own urgent_risk label never decides alone: the tier does.
        rest = {k: v for k, v in known.items() if k != Intent.URGENT_RISK.value}
        if len(text) > SHORT_REPLY_MAX_CHARS:
            # A long post that ends "谢谢！" is not a thank-you: short replies are short by nature.
            rest = {k: v for k, v in rest.items() if k not in _SHORT_REPLIES} or rest
        best = max(rest, key=rest.__getitem__) if rest else Intent.OUT_OF_SCOPE.value
        intent, confidence = Intent(best), rest.get(best, 0.0)
        dispute_type = None
        if urgent:
            intent = Intent.URGENT_RISK
            confidence = max(parsed.risk.get("alarm", 0.0), known.get(Intent.URGENT_RISK.value, 0.0))
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
            urgent_categories=(rule.categories or ("model",)) if urgent else (),
            low_confidence=(parsed.fallback or confidence < self._unsure_below) and not urgent,
            nlu_available=True,
            truncated=truncated,
            phones=phones,
            case_numbers=case_numbers,
            risk=risk,
            risk_scores=dict(parsed.risk),
        )
