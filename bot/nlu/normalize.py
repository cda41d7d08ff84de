"""Text normalisation applied to every resident message before classification, and to the
training data before Rasa learns from it, so that both sides see the same text.

Steps: Unicode NFKC (full-width letters, digits and punctuation become half-width),
Traditional → Simplified (OpenCC ``t2s``), emoji and control characters removed, whitespace
folded, and a length cap.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import opencc

#: Bump when the normalisation changes: the training fingerprint includes it, so a change retrains.
NORMALIZER_VERSION = "1"

# Emoji and pictographs, their modifiers and joiners. Python's `re` has no Extended_Pictographic
# class, so the blocks are listed.
_EMOJI = re.compile(
    "["
    "\U0001f000-\U0001faff"  # mahjong … symbols and pictographs extended-A
    "\U00002600-\U000027bf"  # misc symbols, dingbats
    "\U00002b00-\U00002bff"  # arrows, stars
    "\U0001f1e6-\U0001f1ff"  # regional indicators (flags)
    "\U0000fe00-\U0000fe0f"  # variation selectors
    "\U0000200d"  # zero-width joiner
    "\U000020e3"  # combining keycap
    "\U0001f3fb-\U0001f3ff"  # skin tones
    "]+"
)
_WHITESPACE = re.compile(r"\s+")


@dataclass(frozen=True, slots=True)
class NormalizedText:
    text: str
    #: True when the message was longer than the cap and only its beginning was kept.
    truncated: bool
    original_length: int


@lru_cache(maxsize=1)
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def _drop_control(text: str) -> str:
    # Control and format characters (zero-width spaces, bidi overrides, NUL…) become spaces.
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co") else ch for ch in text)


def normalize_text(text: str) -> str:
    """Normalise without a length cap (used for training data too)."""
    text = unicodedata.normalize("NFKC", text)
    text = _EMOJI.sub(" ", text)
    text = _drop_control(text)
    text = _t2s().convert(text)
    return _WHITESPACE.sub(" ", text).strip()


def normalize(text: str, max_chars: int) -> NormalizedText:
    """Normalise a resident's message and cap its length."""
    clean = normalize_text(text)
    if len(clean) <= max_chars:
        return NormalizedText(clean, truncated=False, original_length=len(clean))
    return NormalizedText(clean[:max_chars], truncated=True, original_length=len(clean))
