"""Near-copies in training and evaluation data.

Two messages are near-copies when their skeletons (letters and CJK characters only, digits
dropped, lower case) are equal, or when their character trigram sets overlap by at least
``threshold`` (Jaccard). Candidates for the second test come from MinHash banding, so a corpus of
tens of thousands of messages is checked without comparing every pair.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict

_NOT_LETTER = re.compile(r"[^a-z\u3400-\u9fff]+")
_PERMUTATIONS = 16
_BAND = 2  # rows per band: 8 bands catch pairs above ~0.8 Jaccard with high probability


def skeleton(text: str) -> str:
    return _NOT_LETTER.sub("", text.lower())


def _shingles(text: str) -> frozenset[str]:
    s = skeleton(text)
    if len(s) < 3:
        return frozenset({s})
    return frozenset(s[i : i + 3] for i in range(len(s) - 2))


def _hash(value: str, salt: int) -> int:
    return int.from_bytes(hashlib.blake2b(value.encode(), digest_size=8, salt=salt.to_bytes(16)).digest())


def _signature(shingles: frozenset[str]) -> tuple[int, ...]:
    return tuple(min(_hash(s, salt) for s in shingles) for salt in range(_PERMUTATIONS))


class NearDuplicates:
    """Remembers messages; ``seen`` says whether a new one nearly copies one remembered."""

    def __init__(self, threshold: float = 0.8, min_chars: int = 12) -> None:
        self._threshold = threshold
        self._min_chars = min_chars
        self._skeletons: set[str] = set()
        self._shingles: list[frozenset[str]] = []
        self._bands: dict[tuple[int, tuple[int, ...]], list[int]] = defaultdict(list)

    def seen(self, text: str, *, remember: bool = True) -> bool:
        key = skeleton(text)
        if key in self._skeletons:
            return True
        shingles = _shingles(text)
        bands: list[tuple[int, tuple[int, ...]]] = []
        if len(key) >= self._min_chars:  # short answers ("好的谢谢") legitimately look alike
            signature = _signature(shingles)
            bands = [(b, signature[b * _BAND : (b + 1) * _BAND]) for b in range(_PERMUTATIONS // _BAND)]
            candidates = {i for band in bands for i in self._bands.get(band, ())}
            for i in candidates:
                other = self._shingles[i]
                if len(shingles & other) / len(shingles | other) >= self._threshold:
                    return True
        if remember:
            self._skeletons.add(key)
            index = len(self._shingles)
            self._shingles.append(shingles)
            for band in bands:
                self._bands[band].append(index)
        return False
