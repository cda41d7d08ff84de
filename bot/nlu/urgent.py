"""The rule layer for imminent danger. It runs before the classifier and its verdict is part of
every classification, so an alarm never hangs on the model alone.

The patterns live in ``knowledge/urgent_patterns.yml`` so that staff can extend them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import yaml

SELF_HARM = "self_harm"


class RuleVerdict(StrEnum):
    URGENT = "urgent"
    #: Alarming words, but only about the past ("去年他打过我"): no alarm from the rules, and the
    #: model alone may not raise one either (at most it asks whether the resident is safe).
    PAST = "past"
    #: Alarming words at a distance (news, films, hearsay, a question about the law): the danger
    #: model decides as it does for any message.
    DISTANT = "distant"
    NONE = "none"


@dataclass(frozen=True, slots=True)
class UrgentMatch:
    verdict: RuleVerdict
    categories: tuple[str, ...] = ()

    @property
    def self_harm(self) -> bool:
        return SELF_HARM in self.categories


def _alternation(patterns: list[str]) -> re.Pattern[str]:
    # IGNORECASE: residents mix in English ("he is hitting me"), typed in any case.
    return re.compile("|".join(f"(?:{p})" for p in patterns), re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class UrgentRules:
    categories: dict[str, re.Pattern[str]]
    figures_of_speech: re.Pattern[str]
    past_markers: re.Pattern[str]
    present_markers: re.Pattern[str]
    distance_markers: re.Pattern[str]

    @classmethod
    def load(cls, knowledge_dir: Path) -> UrgentRules:
        path = knowledge_dir / "urgent_patterns.yml"
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        try:
            return cls(
                categories={name: _alternation(c["patterns"]) for name, c in raw["categories"].items()},
                figures_of_speech=_alternation(raw["figures_of_speech"]),
                past_markers=_alternation(raw["past_markers"]),
                present_markers=_alternation(raw["present_markers"]),
                distance_markers=_alternation(raw["distance_markers"]),
            )
        except (KeyError, TypeError, re.error) as exc:
            raise ValueError(f"{path}: invalid urgent pattern file: {exc}") from exc

    def check(self, text: str) -> UrgentMatch:
        """Check a normalised message."""
        masked = self.figures_of_speech.sub(" ", text)
        hits = tuple(name for name, pattern in self.categories.items() if pattern.search(masked))
        if not hits:
            return UrgentMatch(RuleVerdict.NONE)
        if self.distance_markers.search(masked):
            return UrgentMatch(RuleVerdict.DISTANT, hits)
        if self.present_markers.search(text):
            return UrgentMatch(RuleVerdict.URGENT, hits)
        if self.past_markers.search(text):
            return UrgentMatch(RuleVerdict.PAST, hits)
        return UrgentMatch(RuleVerdict.URGENT, hits)
