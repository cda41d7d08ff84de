"""What volunteers write: an FAQ draft, how it is tidied, and the checks it must pass before it
is saved (the reasons are shown to volunteers, in Chinese)."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, replace

from bot.faq.model import LegalBasis
from bot.faq.statutes import StatuteIndex
from bot.nlu.labels import DisputeCatalog

QUESTION_MAX = 200
#: Residents read answers on a phone; WeChat's passive reply holds ~600 characters and the bot
#: splits longer ones, so beyond this an answer is an article, not an answer.
ANSWER_MAX = 1000
PARAPHRASES_MAX = 30
PARAPHRASE_MAX = 200
LEGAL_BASIS_MAX = 20
#: The seed files' ids use underscores (``property_mgmt-…``), so they are allowed too.
SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{2,79}")
#: Bidirectional overrides and isolates: invisible, and able to make text read differently.
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@dataclass(frozen=True, slots=True)
class Draft:
    question: str
    paraphrases: tuple[str, ...]
    answer: str
    legal_basis: tuple[LegalBasis, ...]
    dispute_type: str | None


class DraftRefused(Exception):
    """The draft (or the request) cannot be accepted; ``reasons`` say why, for volunteers."""

    def __init__(self, reasons: list[str]) -> None:
        super().__init__("；".join(reasons))
        self.reasons = reasons


def _line(text: str) -> str:
    # Browsers send textarea line breaks as CRLF.
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def tidy(draft: Draft, statutes: StatuteIndex | None = None) -> Draft:
    """Whitespace stripped, empty and repeated paraphrases dropped, statutes under their full
    names. The text itself stays as typed: escaping is the pages' job."""
    paraphrases = tuple(dict.fromkeys(p for p in (_line(p) for p in draft.paraphrases) if p))
    basis: list[LegalBasis] = []
    for item in draft.legal_basis:
        statute, article = _line(item.statute).strip("《》"), _line(item.article)
        if not statute and not article:
            continue
        known = statutes.find(statute) if statutes is not None and statute else None
        basis.append(LegalBasis(known.law if known else statute, article))
    dispute_type = _line(draft.dispute_type or "") or None
    return replace(
        draft,
        question=_line(draft.question),
        paraphrases=paraphrases,
        answer=_line(draft.answer),
        legal_basis=tuple(dict.fromkeys(basis)),
        dispute_type=dispute_type,
    )


def _has_control(text: str, *, multiline: bool) -> bool:
    allowed = "\n\t" if multiline else ""
    return any((unicodedata.category(ch) in ("Cc", "Cs") and ch not in allowed) or ch in _BIDI for ch in text)


def check_draft(draft: Draft, statutes: StatuteIndex, catalog: DisputeCatalog) -> list[str]:
    """Why the (tidied) draft cannot be saved; empty when it can."""
    reasons: list[str] = []
    if not draft.question:
        reasons.append("请填写问题")
    elif len(draft.question) > QUESTION_MAX:
        reasons.append(f"问题有{len(draft.question)}个字，请控制在{QUESTION_MAX}字以内")
    if _has_control(draft.question, multiline=False):
        reasons.append("问题里有不可见的控制字符，请删除后再保存")
    if len(draft.paraphrases) > PARAPHRASES_MAX:
        reasons.append(f"同义问法最多{PARAPHRASES_MAX}条，现在有{len(draft.paraphrases)}条")
    for n, text in enumerate(draft.paraphrases, start=1):
        if len(text) > PARAPHRASE_MAX:
            reasons.append(f"第{n}条同义问法有{len(text)}个字，请控制在{PARAPHRASE_MAX}字以内")
        if _has_control(text, multiline=False):
            reasons.append(f"第{n}条同义问法里有不可见的控制字符，请删除后再保存")
    if not draft.answer:
        reasons.append("请填写回答")
    elif len(draft.answer) > ANSWER_MAX:
        reasons.append(f"回答有{len(draft.answer)}个字，超过了{ANSWER_MAX}字的上限：居民在手机上阅读，请精简")
    if _has_control(draft.answer, multiline=True):
        reasons.append("回答里有不可见的控制字符，请删除后再保存")
    if draft.dispute_type is not None and draft.dispute_type not in catalog:
        reasons.append(f"没有“{draft.dispute_type}”这个纠纷类型")
    reasons += _basis_reasons(draft.legal_basis, statutes)
    return reasons


def _basis_reasons(basis: tuple[LegalBasis, ...], statutes: StatuteIndex) -> list[str]:
    if len(basis) > LEGAL_BASIS_MAX:
        return [f"法律依据最多{LEGAL_BASIS_MAX}条，现在有{len(basis)}条"]
    reasons: list[str] = []
    for n, item in enumerate(basis, start=1):
        if not item.statute or not item.article:
            reasons.append(f"第{n}条法律依据要同时写明法规名称和条号")
        elif _has_control(item.statute + item.article, multiline=False):
            reasons.append(f"第{n}条法律依据里有不可见的控制字符，请删除后再保存")
        elif (reason := statutes.check(item.statute, item.article)) is not None:
            reasons.append(reason)
    return reasons


def check_slug(slug: str) -> list[str]:
    if SLUG.fullmatch(slug):
        return []
    return ["编号只能用小写英文字母、数字、连字符和下划线，以字母或数字开头，长3到80个字符"]
