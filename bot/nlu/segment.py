"""jieba word segmentation with the project's domain dictionary (the same files Rasa's
``JiebaTokenizer`` loads through ``dictionary_path``)."""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import Protocol, cast

with warnings.catch_warnings():
    # jieba 0.42 (2020) has regex literals that Python warns about when compiling it.
    warnings.simplefilter("ignore", SyntaxWarning)
    warnings.simplefilter("ignore", DeprecationWarning)
    import jieba

jieba.setLogLevel(logging.WARNING)


class Tokenizer(Protocol):
    """The part of ``jieba.Tokenizer`` the project uses (jieba ships no type hints)."""

    def lcut(self, sentence: str) -> list[str]: ...

    def lcut_for_search(self, sentence: str) -> list[str]: ...


def plain_tokenizer() -> Tokenizer:
    """jieba without the domain dictionary."""
    return cast(Tokenizer, jieba.Tokenizer())


def make_tokenizer(dictionary_dir: Path) -> Tokenizer:
    tokenizer = jieba.Tokenizer()
    for path in sorted(dictionary_dir.glob("*.txt")):
        with path.open("rb") as handle:  # given a path, jieba leaves the file open
            tokenizer.load_userdict(handle)
    return cast(Tokenizer, tokenizer)


def dictionary_words(dictionary_dir: Path) -> list[str]:
    words: list[str] = []
    for path in sorted(dictionary_dir.glob("*.txt")):
        words += [line.split()[0] for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return words
