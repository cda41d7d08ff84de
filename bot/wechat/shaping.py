"""Fitting a notification's text to what WeChat accepts: customer-service messages in parts of
bounded length, and the fields of a template message (no emoji, at most 20 characters a line
and 200 in all since WeChat's 2023 template rules)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from bot.dialogs.parsing import find_references

#: Customer-service text may be longer than a passive reply; stay well under its limit.
PART_CHARS = 2000
LINE_CHARS = 20
FIELD_CHARS = 200
ROLES = frozenset({"title", "detail", "time", "reference"})

_SENTENCE_END = re.compile(r"(?<=[。！？!?；;…\n])")
# Emoji and pictographs with their modifiers and joiners (WeChat refuses them in templates).
_EMOJI = re.compile(
    "["
    "\U0001f000-\U0001faff"
    "\U00002600-\U000027bf"
    "\U00002b00-\U00002bff"
    "\U0000fe00-\U0000fe0f"
    "\U0000200d"
    "\U000020e3"
    "]+"
)
# A line is best broken after punctuation or a space, and never inside a run like a reference.
_BREAK_AFTER = set("，。；：！？、,.;:!? ）)")
_WORD = re.compile(r"[A-Za-z0-9\-]")
_ELLIPSIS = "…"


def split_parts(text: str, limit: int = PART_CHARS) -> list[str]:
    """Cut a long text into parts of at most ``limit`` characters at sentence ends."""
    text = text.strip()
    if len(text) <= limit:
        return [text]
    parts: list[str] = []
    current = ""
    for sentence in (s for s in _SENTENCE_END.split(text) if s):
        while len(sentence) > limit:  # one sentence longer than a part: cut it hard
            if current:
                parts.append(current)
                current = ""
            parts.append(sentence[:limit])
            sentence = sentence[limit:]
        if len(current) + len(sentence) > limit:
            parts.append(current)
            current = ""
        current += sentence
    if current:
        parts.append(current)
    return [p.strip() for p in parts if p.strip()]


@dataclass(frozen=True, slots=True)
class TemplateFields:
    data: dict[str, str]  # field name -> value, empty values left out
    complete: bool  # False: the text was cut to fit


def template_fields(text: str, fields: Mapping[str, str], now: datetime) -> TemplateFields:
    """The template's fields by role: ``title`` the first line, ``detail`` the rest, ``time`` now
    (in the centre's zone: pass ``now`` converted), ``reference`` the first case reference."""
    lines = [line.strip() for line in _EMOJI.sub("", text).splitlines() if line.strip()]
    title, title_complete = fit(lines[:1])
    detail, detail_complete = fit(lines[1:])
    references = find_references(text)
    by_role = {
        "title": title,
        "detail": detail,
        "time": now.strftime("%Y-%m-%d %H:%M"),
        "reference": references[0] if references else "",
    }
    used = set(fields.values())
    complete = (not lines[:1] or ("title" in used and title_complete)) and (
        not lines[1:] or ("detail" in used and detail_complete)
    )
    data = {name: by_role[role] for name, role in fields.items() if by_role.get(role)}
    return TemplateFields(data, complete)


def fit(lines: list[str], width: int = LINE_CHARS, total: int = FIELD_CHARS) -> tuple[str, bool]:
    """Wrap lines to ``width`` characters and keep at most ``total`` characters (newlines
    included); True when nothing was cut."""
    wrapped = [piece for line in lines for piece in wrap(line, width)]
    out: list[str] = []
    used = 0
    for piece in wrapped:
        cost = len(piece) + (1 if out else 0)
        if used + cost > total:
            room = total - used - (1 if out else 0)
            if room >= 2:
                out.append(piece[: min(room, width) - 1] + _ELLIPSIS)
            elif out:
                out[-1] = out[-1][:-1] + _ELLIPSIS
            return "\n".join(out), False
        out.append(piece)
        used += cost
    return "\n".join(out), True


def wrap(line: str, width: int = LINE_CHARS) -> list[str]:
    pieces = []
    while len(line) > width:
        cut = _cut_at(line, width)
        pieces.append(line[:cut].rstrip())
        line = line[cut:].lstrip()
    if line:
        pieces.append(line)
    return pieces


def _cut_at(line: str, width: int) -> int:
    for cut in range(width, width // 2, -1):
        if line[cut - 1] in _BREAK_AFTER:
            return cut
    cut = width
    while cut > width // 2 and _WORD.match(line[cut - 1]) and _WORD.match(line[cut]):
        cut -= 1  # do not split TJ20261122-0001 across two lines
    return cut if cut > width // 2 else width
