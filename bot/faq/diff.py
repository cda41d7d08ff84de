"""A readable difference between two versions of an FAQ, field by field: the answer compared
sentence by sentence, lists item by item (volunteers read it, not programmers)."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from typing import Literal

from bot.faq.drafts import Draft
from bot.nlu.labels import DisputeCatalog

Kind = Literal["same", "added", "removed"]

#: A sentence ends after 。！？；!?; or a line break (the mark stays with its sentence).
_SENTENCE = re.compile(r"[^。！？；!?;\n]+[。！？；!?;]*|\n")


@dataclass(frozen=True, slots=True)
class DiffLine:
    field: str  # 问题, 同义问法, 回答, 法律依据, 纠纷类型
    kind: Kind
    text: str


def sentences(text: str) -> list[str]:
    return [s.strip() for s in _SENTENCE.findall(text) if s.strip()]


def _lines(field: str, old: list[str], new: list[str]) -> list[DiffLine]:
    out: list[DiffLine] = []
    matcher = difflib.SequenceMatcher(a=old, b=new, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            out += [DiffLine(field, "same", text) for text in old[i1:i2]]
            continue
        out += [DiffLine(field, "removed", text) for text in old[i1:i2]]
        out += [DiffLine(field, "added", text) for text in new[j1:j2]]
    return out


def type_name(code: str | None, catalog: DisputeCatalog) -> str:
    if code is None:
        return "通用（不限纠纷类型）"
    return catalog.get(code).name if code in catalog else code


def diff_drafts(older: Draft, newer: Draft, catalog: DisputeCatalog) -> list[DiffLine]:
    return [
        *_lines("问题", [older.question], [newer.question]),
        *_lines("同义问法", list(older.paraphrases), list(newer.paraphrases)),
        *_lines("回答", sentences(older.answer), sentences(newer.answer)),
        *_lines(
            "法律依据",
            [b.cite() for b in older.legal_basis],
            [b.cite() for b in newer.legal_basis],
        ),
        *_lines(
            "纠纷类型",
            [type_name(older.dispute_type, catalog)],
            [type_name(newer.dispute_type, catalog)],
        ),
    ]
