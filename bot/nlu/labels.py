"""The label contract: intent codes and dispute types (read from ``knowledge/dispute_types.yml``)."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

import yaml

#: Separates intent and dispute type in the Rasa labels, e.g. ``report_dispute+labor``.
LABEL_SEPARATOR = "+"


class Intent(StrEnum):
    REPORT_DISPUTE = "report_dispute"
    ASK_LEGAL = "ask_legal"
    CHECK_PROGRESS = "check_progress"
    URGENT_RISK = "urgent_risk"
    HUMAN_HANDOFF = "human_handoff"
    GREET = "greet"
    GOODBYE = "goodbye"
    THANKS = "thanks"
    AFFIRM = "affirm"
    DENY = "deny"
    CANCEL = "cancel"
    OUT_OF_SCOPE = "out_of_scope"

    @property
    def carries_dispute_type(self) -> bool:
        return self in (Intent.REPORT_DISPUTE, Intent.ASK_LEGAL)


@dataclass(frozen=True, slots=True)
class DisputeType:
    code: str
    name: str
    description: str
    #: Where a resident with this kind of question can call besides the centre (None: the centre).
    hotline: str | None = None


@dataclass(frozen=True, slots=True)
class DisputeCatalog:
    """The dispute types in the order residents see them (numbered lists follow this order)."""

    types: tuple[DisputeType, ...]

    @classmethod
    def load(cls, knowledge_dir: Path) -> DisputeCatalog:
        path = knowledge_dir / "dispute_types.yml"
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        types = tuple(
            DisputeType(
                code=str(item["code"]),
                name=str(item["name"]),
                description=str(item["description"]),
                hotline=str(item["hotline"]) if item.get("hotline") else None,
            )
            for item in raw["dispute_types"]
        )
        codes = [t.code for t in types]
        if len(set(codes)) != len(codes):
            raise ValueError(f"{path}: duplicate dispute type codes")
        return cls(types)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(t.code for t in self.types)

    def get(self, code: str) -> DisputeType:
        for t in self.types:
            if t.code == code:
                return t
        raise KeyError(code)

    def __contains__(self, code: object) -> bool:
        return any(t.code == code for t in self.types)


def split_label(label: str) -> tuple[str, str | None]:
    """``report_dispute+labor`` -> (``report_dispute``, ``labor``); ``greet`` -> (``greet``, None)."""
    intent, _, dispute_type = label.partition(LABEL_SEPARATOR)
    return intent, dispute_type or None
