from __future__ import annotations

import pytest

from bot.nlu.normalize import normalize, normalize_text


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("１３８１２３４５６７８", "13812345678"),  # full-width digits
        ("ＡＢＣ，ｄｅｆ！", "ABC,def!"),  # full-width letters and punctuation
        ("鄰居樓上裝修吵得要命", "邻居楼上装修吵得要命"),  # Traditional → Simplified
        ("離婚後孩子撫養費", "离婚后孩子抚养费"),
        ("老板欠薪😡😡😡！！", "老板欠薪 !!"),
        ("  楼上\t\t漏水 \n\n 怎么办  ", "楼上 漏水 怎么办"),
        ("欠\u200b薪\u202e", "欠 薪"),  # zero-width and bidi control characters
        ("👍🏻👨‍👩‍👧", ""),  # only emoji
        ("", ""),
    ],
)
def test_normalize_text(raw: str, expected: str) -> None:
    assert normalize_text(raw) == expected


def test_oversized_message_is_cut_and_flagged() -> None:
    result = normalize("楼上漏水" * 3000, max_chars=1000)
    assert result.truncated
    assert len(result.text) == 1000
    assert result.original_length == 12000


def test_message_within_cap_is_kept_whole() -> None:
    result = normalize("物业费太贵了", max_chars=1000)
    assert not result.truncated
    assert result.text == "物业费太贵了"


def test_sql_looking_text_passes_through_as_text() -> None:
    assert normalize_text("'; DROP TABLE cases; --") == "'; DROP TABLE cases; --"
