"""Reading short answers without the NLU: phone numbers, yes/no, commands, numbers, references.

Everything here works on normalised text (half-width, simplified) and must keep working when
the NLU is down, so that every flow stays usable.
"""

from __future__ import annotations

import re
from enum import StrEnum

from bot.privacy import mask_phone as mask_phone

# Mobile: optional +86/86/0086, 11 digits starting 1[3-9], spaces or dashes anywhere between.
_MOBILE = re.compile(r"(?<!\d)(?:\+?86[ -]?|0086[ -]?)?(1[3-9]\d(?:[ -]?\d){8})(?!\d)")
# Landline: area code 0xx / 0xxx (optionally in brackets), then 7–8 digits.
_LANDLINE = re.compile(r"(?<!\d)\(?(0\d{2,3})\)?[ -]?(\d{3,4}[ -]?\d{4})(?!\d)")
_REFERENCE = re.compile(r"(?<![A-Za-z0-9])[Tt][Jj][ -]?(\d{8})[ -]?(\d{4,6})(?!\d)")
_FIX = re.compile(r"^(?:改|修改|更改|改一下|改第)\s*(\d{1,2})\s*(?:项|个|条)?$")


# Voice input writes numbers in words: "一八六零七三九二二五八" (runs of 7+ digits only).
_SPOKEN_DIGITS = str.maketrans("〇零一二三四五六七八九幺洞", "0012345678910")
_SPOKEN_RUN = re.compile(r"[〇零一二三四五六七八九幺洞]{7,}")


def find_phones(text: str) -> list[str]:
    """Every phone number in a message, in a canonical form (mobile digits, landline 0xxx-xxxxxxxx)."""
    text = _SPOKEN_RUN.sub(lambda m: m.group(0).translate(_SPOKEN_DIGITS), text)
    found: list[str] = []
    for match in _MOBILE.finditer(text):
        found.append(re.sub(r"[ -]", "", match.group(1)))
    masked = _MOBILE.sub(" ", text)
    for match in _LANDLINE.finditer(masked):
        number = re.sub(r"[ -]", "", match.group(2))
        if 7 <= len(number) <= 8:
            found.append(f"{match.group(1)}-{number}")
    return list(dict.fromkeys(found))


def parse_phone(text: str) -> str | None:
    """A message that is (mainly) one phone number -> that number, else None."""
    phones = find_phones(text)
    return phones[0] if len(phones) == 1 else None


def find_references(text: str) -> list[str]:
    return [f"TJ{m.group(1)}-{m.group(2)}" for m in _REFERENCE.finditer(text)]


def parse_lookup(text: str) -> tuple[str, str] | None:
    """``TJ20261105-0031 5678`` -> (reference, last four digits of the phone)."""
    refs = find_references(text)
    if len(refs) != 1:
        return None
    rest = _REFERENCE.sub(" ", text)
    digits = re.findall(r"(?<!\d)(\d{4})(?!\d)", rest)
    return (refs[0], digits[0]) if len(digits) == 1 else None


def parse_fix(text: str) -> int | None:
    """``改2`` -> 2."""
    match = _FIX.match(text.strip())
    return int(match.group(1)) if match else None


def parse_number(text: str, upper: int) -> int | None:
    """A bare number 1..upper ("3", "3.", "第3个", "选3")."""
    match = re.fullmatch(r"\s*(?:第|选)?\s*(\d{1,2})\s*(?:个|项|号|\.|、)?\s*", text)
    if not match:
        return None
    value = int(match.group(1))
    return value if 1 <= value <= upper else None


_YES_WORDS = (
    "是|是的|是啊|对|对的|对啊|没错|好|好的|好啊|行|可以|嗯|嗯嗯|恩|ok|okay|yes|y"
    "|确认|确定|同意|需要|要|没问题|就这样|用这个|就用这个|系|系呀|系啊|系的|啱|啱啱|冇问题|得|好呀|要呀"
)
_NO_WORDS = (
    "不|不是|不对|不行|不用|不用了|不要|不需要|否|没有|错了|不同意|no|n|算了|换一个|换个|换|不了"
    "|唔系|唔系呀|唔要|唔使|唔好|唔得|冇|唔同意"
)
_YES = re.compile(rf"^({_YES_WORDS})[!。.~ ]*$", re.IGNORECASE)
_NO = re.compile(rf"^({_NO_WORDS})[!。.~ ]*$", re.IGNORECASE)


def is_yes(text: str) -> bool:
    return bool(_YES.match(text.strip()))


def is_no(text: str) -> bool:
    return bool(_NO.match(text.strip()))


class Command(StrEnum):
    HELP = "help"
    CANCEL = "cancel"
    RESTART = "restart"
    RESUME = "resume"


# Exact commands that move around the conversation, recognised before and without the NLU.
# (The commands that start a flow are declared by each flow: ``FlowSpec.commands``.)
_COMMANDS: dict[str, Command] = {
    **dict.fromkeys(["帮助", "菜单", "help", "menu", "?", "/help", "功能", "主菜单"], Command.HELP),
    **dict.fromkeys(["取消", "/cancel", "取消登记", "不登记了", "退出", "cancel"], Command.CANCEL),
    **dict.fromkeys(["重新开始", "重来", "从头开始", "/start", "restart"], Command.RESTART),
    **dict.fromkeys(["继续", "继续登记", "接着填", "接着登记"], Command.RESUME),
}


def parse_command(text: str) -> Command | None:
    return _COMMANDS.get(text.strip().rstrip("!。.！").lower())
