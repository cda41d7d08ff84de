"""Remembering the model's answers to short messages.

Most turns of a conversation are short answers that thousands of residents type alike (是、
同意、确认、跳过、匿名、菜单…). The model is deterministic for a given model file, so the same
normalised text gets the same parse: asking Rasa again only spends its one CPU-bound process.
Long texts are nearly always unique, so only short ones are kept, in a bounded LRU.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Awaitable, Callable

from bot.nlu.client import ParseResult

SHORT = 24  # characters: answers and commands, not stories


class ParseCache:
    def __init__(self, parse: Callable[[str], Awaitable[ParseResult]], *, size: int = 4096) -> None:
        self._parse = parse
        self._size = size
        self._kept: OrderedDict[str, ParseResult] = OrderedDict()
        self.hits = 0

    async def parse(self, text: str) -> ParseResult:
        if len(text) > SHORT:
            return await self._parse(text)
        kept = self._kept.get(text)
        if kept is not None:
            self._kept.move_to_end(text)
            self.hits += 1
            return kept
        result = await self._parse(text)  # failures raise and are not remembered
        self._kept[text] = result
        if len(self._kept) > self._size:
            self._kept.popitem(last=False)
        return result
