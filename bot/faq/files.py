"""Reading the FAQ YAML files in ``knowledge/faq/`` (one file per topic)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import yaml

from bot.faq.model import Faq, LegalBasis


class FaqFileError(ValueError):
    """A FAQ file is broken; the message names the file and, where known, the line."""


def _entry(raw: dict[str, Any], where: str) -> Faq:
    try:
        reviewed = raw.get("reviewed")
        if isinstance(reviewed, str):
            reviewed = dt.date.fromisoformat(reviewed)
        return Faq(
            id=str(raw["id"]),
            question=str(raw["question"]).strip(),
            paraphrases=tuple(str(p).strip() for p in raw.get("paraphrases") or ()),
            answer=str(raw["answer"]).strip(),
            legal_basis=tuple(
                LegalBasis(str(b["statute"]), str(b["article"])) for b in raw.get("legal_basis") or ()
            ),
            dispute_type=raw.get("dispute_type"),
            reviewed=reviewed,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise FaqFileError(f"{where}: invalid FAQ entry: {exc}") from exc


def load_file(path: Path) -> list[Faq]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise FaqFileError(f"{path}{line}: not valid YAML: {getattr(exc, 'problem', exc)}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("faqs"), list):
        raise FaqFileError(f"{path}: expected a mapping with a list under 'faqs'")
    return [_entry(item, f"{path} (entry {n})") for n, item in enumerate(doc["faqs"], start=1)]


def load_directory(directory: Path) -> list[Faq]:
    """All FAQs of a directory; every file is read before anything is returned."""
    faqs = [faq for path in sorted(directory.glob("*.yml")) for faq in load_file(path)]
    seen: set[str] = set()
    for faq in faqs:
        if faq.id in seen:
            raise FaqFileError(f"{directory}: duplicate FAQ id {faq.id!r}")
        seen.add(faq.id)
    return faqs
