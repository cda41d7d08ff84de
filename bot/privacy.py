"""Masking residents' personal data wherever it is shown to someone who does not need it
(logs, summaries, operator listings)."""

from __future__ import annotations

import re
from functools import cache
from typing import Any

# Mainland mobiles (optionally +86, with spaces or dashes) and landlines with an area code.
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[ -]?)?(1[3-9]\d)[ -]?\d{4}[ -]?(\d{4})(?!\d)")
_LANDLINE = re.compile(r"(?<!\d)\(?(0\d{2,3})\)?[ -]?\d{3,4}[ -]?(\d{4})(?!\d)")
# Other long digit runs: ID-card numbers, bank cards.
_LONG_DIGITS = re.compile(r"(?<!\d)\d{7,}[\dXx]?(?!\d)")


def mask_phone(phone: str) -> str:
    digits = phone.replace("-", "").replace(" ", "")
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


def mask_personal_data(text: str) -> str:
    """Phone numbers keep their first three and last four digits; other long numbers their first two."""
    text = _MOBILE.sub(r"\1****\2", text)
    text = _LANDLINE.sub(r"\1****\2", text)
    return _LONG_DIGITS.sub(lambda m: m.group(0)[:2] + "*" * (len(m.group(0)) - 2), text)


#: Words jieba tags as person names that are kinship terms or titles, not anyone's name.
_NOT_NAMES = frozenset(
    "老公 老婆 阿姨 叔叔 阿叔 大爷 大妈 大娘 大姐 大哥 老板 老板娘 师傅 爷爷 奶奶 外婆 外公 姥姥 姥爷 "
    "婆婆 公公 岳父 岳母 丈母娘 老丈人 媳妇 儿媳 女婿 舅舅 舅妈 姑姑 姑父 姨妈 姨父 嫂子 弟媳 "
    "老师 医生 护士 律师 法官 警察 经理 主任 书记 村长 队长 组长 房东 保安".split()
)


@cache
def _tagger() -> Any:
    import warnings

    with warnings.catch_warnings():  # jieba's source has old-style regex escapes
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        import jieba.posseg  # loaded on first use: its dictionary takes about a second

    return jieba.posseg


def mask_names(text: str) -> str:
    """People's names (as jieba's part-of-speech tagger finds them) keep their first character:
    张三 → 张*, 王建国 → 王**. A lone surname (我姓赵) and kinship words stay."""
    out = []
    for word, flag in _tagger().cut(text):
        is_name = flag in ("nr", "nrfg", "nrt") and len(word) >= 2 and word not in _NOT_NAMES
        out.append(word[0] + "*" * (len(word) - 1) if is_name else word)
    return "".join(out)


def warm_up() -> None:
    """Load the tagger's dictionary now (about a second of CPU), not in a resident's turn."""
    mask_names("张三")


def mask_for_volunteers(text: str) -> str:
    """What volunteers may see of a resident's question: numbers and names masked."""
    return mask_names(mask_personal_data(text))
