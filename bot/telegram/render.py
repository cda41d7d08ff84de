"""The engine's replies as Telegram messages: quick replies become an inline keyboard, links URL
buttons, and texts longer than Telegram allows are split at paragraph or sentence boundaries.

A button's ``callback_data`` may hold 64 bytes. An option that fits is sent as its own data (it
still works when Telegram no longer shows us the message, after 48 hours); a longer one is sent
as ``opt:<n>`` and read back from the tapped message's keyboard, which the callback query carries:
the mapping lives in Telegram's copy of the message, so nothing is stored on our side.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.dialogs.messages import Link, Outbound

#: Telegram's limit on a message's text, counted in UTF-16 code units.
MAX_TEXT = 4096
MAX_CALLBACK_BYTES = 64
INDEXED = "opt:"
#: Where to split a long text, best first (a boundary in the first half of a piece is not used).
_BOUNDARIES = ("\n\n", "\n", "。", "！", "？", "；", ". ", "! ", "? ", "; ", "，", ", ", " ")


@dataclass(frozen=True, slots=True)
class Message:
    text: str
    keyboard: InlineKeyboardMarkup | None = None


def render(outbounds: Sequence[Outbound], *, limit: int = MAX_TEXT) -> list[Message]:
    """Consecutive replies without buttons share one message when they fit: Telegram allows about
    one message a second per chat, so fewer messages reach the resident sooner."""
    messages: list[Message] = []
    for outbound in outbounds:
        text, keyboard = _with_links(outbound.text, outbound.links), _keyboard(outbound)
        if not text.strip() and keyboard is None:
            continue
        previous = messages[-1] if messages else None
        joined = f"{previous.text}\n\n{text}" if previous else text
        if previous is not None and previous.keyboard is None and utf16_len(joined) <= limit:
            messages[-1] = Message(joined, keyboard)
            continue
        pieces = split_text(text, limit)
        messages.extend(Message(piece) for piece in pieces[:-1])
        messages.append(Message(pieces[-1], keyboard))
    return messages


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def split_text(text: str, limit: int = MAX_TEXT) -> list[str]:
    """Pieces of at most ``limit`` UTF-16 units, cut after the best boundary in each window."""
    pieces: list[str] = []
    rest = text
    while utf16_len(rest) > limit:
        window = _prefix(rest, limit)
        cut = len(window)
        for boundary in _BOUNDARIES:
            at = window.rfind(boundary)
            if at >= len(window) // 2:
                cut = at + len(boundary)
                break
        piece, rest = rest[:cut].rstrip(), rest[cut:].lstrip()
        if piece:
            pieces.append(piece)
    if rest.strip() or not pieces:
        pieces.append(rest)
    return pieces


def _prefix(text: str, limit: int) -> str:
    """The longest prefix of ``text`` within ``limit`` UTF-16 units (never half an emoji)."""
    units = 0
    for index, char in enumerate(text):
        units += 2 if ord(char) > 0xFFFF else 1
        if units > limit:
            return text[:index]
    return text


def callback_data(option: str, index: int) -> str:
    fits = len(option.encode("utf-8")) <= MAX_CALLBACK_BYTES and not option.startswith(INDEXED)
    return option if fits else f"{INDEXED}{index}"


def resolve_callback(data: str, keyboard: InlineKeyboardMarkup | None) -> str | None:
    """The option a tapped button stands for; None when it cannot be known any more (an indexed
    button on a message Telegram no longer shows us)."""
    if not data.startswith(INDEXED):
        return data
    for row in keyboard.inline_keyboard if keyboard else ():
        for button in row:
            if button.callback_data == data:
                return button.text
    return None


def _keyboard(outbound: Outbound) -> InlineKeyboardMarkup | None:
    options = [
        InlineKeyboardButton(o, callback_data=callback_data(o, i)) for i, o in enumerate(outbound.options)
    ]
    # Short options (the menu's four) sit two to a row; longer ones get a row each.
    per_row = 2 if all(len(o) <= 6 for o in outbound.options) else 1
    rows = [options[i : i + per_row] for i in range(0, len(options), per_row)]
    rows += [[InlineKeyboardButton(link.title, url=link.url)] for link in _buttons(outbound.links)]
    return InlineKeyboardMarkup(rows) if rows else None


def _buttons(links: Iterable[Link]) -> list[Link]:
    # Telegram accepts only web addresses (and tg://) on URL buttons; others go into the text.
    return [link for link in links if link.url.startswith(("https://", "http://"))]


def _with_links(text: str, links: Sequence[Link]) -> str:
    inline = [f"{link.title}: {link.url}" for link in links if link not in _buttons(links)]
    return "\n".join([text, *inline]) if inline else text
