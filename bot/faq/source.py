"""Where the live FAQs come from. Until the volunteers' console keeps them in the database,
they are the YAML files in ``knowledge/faq/``."""

from __future__ import annotations

from pathlib import Path

from bot.faq.files import load_directory
from bot.faq.index import FaqIndex
from bot.nlu.segment import Tokenizer


class FileFaqs:
    def __init__(self, directory: Path, tokenizer: Tokenizer, *, threshold: float) -> None:
        self._index = FaqIndex(load_directory(directory), tokenizer, threshold=threshold)

    def index(self) -> FaqIndex:
        return self._index
