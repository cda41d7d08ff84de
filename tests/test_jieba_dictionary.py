"""Each domain word must come out of jieba as one token, alone and inside a sentence."""

from __future__ import annotations

import pytest

from bot.nlu.segment import Tokenizer, dictionary_words, make_tokenizer, plain_tokenizer
from bot.settings import PROJECT_ROOT

DICTIONARY = PROJECT_ROOT / "bot" / "nlu" / "jieba_dict"
WORDS = dictionary_words(DICTIONARY)


@pytest.fixture(scope="module")
def tokenizer() -> Tokenizer:
    return make_tokenizer(DICTIONARY)


def test_the_dictionary_has_the_words_the_issue_names() -> None:
    for word in ("宅基地", "物业费", "欠薪", "赡养", "拆迁", "工伤", "押金"):
        assert word in WORDS


@pytest.mark.parametrize("word", WORDS)
def test_domain_word_is_one_token(tokenizer: Tokenizer, word: str) -> None:
    assert tokenizer.lcut(word) == [word]
    assert word in tokenizer.lcut(f"我想问一下{word}的事情")


def test_without_the_dictionary_some_domain_words_split() -> None:
    # Guards the test above: plain jieba really does cut these words apart.
    plain = plain_tokenizer()
    assert any(plain.lcut(w) != [w] for w in WORDS)
