"""The bot's replies as one WeChat passive text reply, split where it would be too long.

A passive reply has no buttons, so quick replies become a line telling the resident what they
can type, and links become "title：url". WeChat silently drops passive text beyond roughly
2048 bytes; we stay well below, and the rest follows as separate messages.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence

from bot.dialogs.messages import Outbound
from bot.dialogs.replies import Replies

#: UTF-8 bytes of one passive reply (or one follow-up message): about 600 Chinese characters.
PASSIVE_LIMIT = 1800
OPTIONS_HINT = "wechat.options_hint"
_SEPARATOR = "｜"
_NUMBERED = re.compile(r"^\s*(\d{1,2})\s*[.、．]", re.MULTILINE)
# Where a long text may be cut, best first: paragraphs, lines, sentences.
_BREAKS = (
    re.compile(r"(?<=\n\n)"),
    re.compile(r"(?<=\n)"),
    re.compile(r"(?<=[。！？；!?;…])"),
    re.compile(r"(?<=[，、,：:])"),
)


def _size(text: str) -> int:
    return len(text.encode("utf-8"))


def _options_already_said(outbound: Outbound) -> bool:
    """The text names every option in quotes (回复“继续”…) or lists them as numbered lines."""
    if all(f"“{option}”" in outbound.text for option in outbound.options):
        return True
    numbers = {int(n) for n in _NUMBERED.findall(outbound.text)}
    return set(range(1, len(outbound.options) + 1)) <= numbers


def _block(outbound: Outbound, replies: Replies, *, last: bool) -> str:
    lines = [outbound.text.strip()]
    lines += [f"{link.title}：{link.url}" for link in outbound.links]
    # Only the last reply's options are the question the resident is answering now.
    if last and outbound.options and not _options_already_said(outbound):
        lines.append(replies.text(OPTIONS_HINT, items=_SEPARATOR.join(outbound.options)))
    return "\n".join(line for line in lines if line)


def render(outbounds: Sequence[Outbound], replies: Replies) -> str:
    """All replies of one turn as one text, a blank line between replies."""
    blocks = [_block(o, replies, last=i == len(outbounds) - 1) for i, o in enumerate(outbounds)]
    return "\n\n".join(block for block in blocks if block)


def _hard_cut(text: str, limit: int) -> Iterator[str]:
    piece = ""
    for char in text:
        if _size(piece + char) > limit:
            yield piece
            piece = ""
        piece += char
    if piece:
        yield piece


def _pieces(text: str, limit: int, level: int = 0) -> Iterator[str]:
    """``text`` cut at the best kind of break that makes every piece fit."""
    if _size(text) <= limit:
        yield text
    elif level == len(_BREAKS):
        yield from _hard_cut(text, limit)
    else:
        for part in _BREAKS[level].split(text):
            if part:
                yield from _pieces(part, limit, level + 1)


def split(text: str, limit: int = PASSIVE_LIMIT) -> list[str]:
    """``text`` as messages of at most ``limit`` UTF-8 bytes each, cut at paragraph, line or
    sentence ends where possible, and packed so there are as few messages as can be."""
    if _size(text) <= limit:
        return [text] if text.strip() else []
    chunks: list[str] = []
    current = ""
    for piece in _pieces(text, limit):
        if _size(current + piece) <= limit:
            current += piece
            continue
        if current.strip():
            chunks.append(current.strip())
        current = piece
    if current.strip():
        chunks.append(current.strip())
    return chunks
