"""How the engine's replies look on Telegram: buttons, links, and texts too long for one message."""

from __future__ import annotations

from telegram import InlineKeyboardMarkup

from bot.dialogs.messages import Link, Outbound
from bot.telegram.render import MAX_TEXT, render, resolve_callback, split_text, utf16_len


def _data(keyboard: InlineKeyboardMarkup | None) -> list[tuple[str, str | None]]:
    assert keyboard is not None
    return [(b.text, b.callback_data) for row in keyboard.inline_keyboard for b in row]  # type: ignore[misc]


def test_a_reply_over_4096_characters_is_split_at_paragraphs_and_loses_nothing() -> None:
    paragraph = "调解委员会会在三个工作日内联系您。" * 60  # ~1000 characters
    text = "\n\n".join([paragraph] * 6)
    messages = render([Outbound(text, options=("确认", "取消"))])
    assert len(messages) == 2
    assert all(utf16_len(m.text) <= MAX_TEXT for m in messages)
    assert all(m.text.endswith("。") for m in messages)  # cut between paragraphs, not inside one
    assert "\n\n".join(m.text for m in messages) == text
    # The buttons come with the last part, under the text they answer.
    assert messages[0].keyboard is None
    assert _data(messages[1].keyboard) == [("确认", "确认"), ("取消", "取消")]


def test_one_long_paragraph_is_cut_after_a_sentence() -> None:
    sentence = "邻居装修的噪音从早上七点持续到晚上十点，严重影响了老人休息！"
    text = sentence * 200
    pieces = split_text(text)
    assert len(pieces) == 2
    assert pieces[0].endswith("！") and utf16_len(pieces[0]) <= MAX_TEXT
    assert "".join(pieces) == text


def test_emoji_count_double_and_are_never_cut_in_half() -> None:
    text = "😀" * 3000  # 6000 UTF-16 units, no boundary anywhere
    pieces = split_text(text)
    assert [utf16_len(p) for p in pieces] == [4096, 6000 - 4096]
    assert "".join(pieces) == text


def test_replies_without_buttons_share_one_message() -> None:
    messages = render([Outbound("您好！"), Outbound("我可以帮您：", options=("登记纠纷", "查询进度"))])
    assert [m.text for m in messages] == ["您好！\n\n我可以帮您："]
    assert _data(messages[0].keyboard) == [("登记纠纷", "登记纠纷"), ("查询进度", "查询进度")]
    # A reply after buttons starts a new message: the buttons stay under their question.
    after = render([Outbound("请选择：", options=("是", "不是")), Outbound("或者直接告诉我。")])
    assert [m.text for m in after] == ["请选择：", "或者直接告诉我。"]


def test_an_option_longer_than_64_bytes_is_sent_by_index_and_read_back_from_the_message() -> None:
    long_option = "我要查询编号TJ20261105-0031的案件进度以及承办单位的联系方式和地址"  # > 64 bytes
    assert len(long_option.encode()) > 64
    [message] = render([Outbound("请选择：", options=("是", long_option))])
    data = dict(_data(message.keyboard))
    assert data["是"] == "是"
    assert data[long_option] == "opt:1"
    assert all(len((d or "").encode()) <= 64 for d in data.values())
    # The tap carries the message with its keyboard: the option is read back from it.
    assert resolve_callback("opt:1", message.keyboard) == long_option
    assert resolve_callback("是", message.keyboard) == "是"
    # Without the message (too old for Telegram to include it) an indexed tap cannot be known.
    assert resolve_callback("opt:1", None) is None


def test_links_become_url_buttons_or_stay_in_the_text() -> None:
    [message] = render(
        [Outbound("详情：", links=(Link("办事指南", "https://example.org/guide"), Link("热线", "tel:12345")))]
    )
    assert message.text == "详情：\n热线: tel:12345"
    assert message.keyboard is not None
    [[button]] = message.keyboard.inline_keyboard
    assert (button.text, button.url) == ("办事指南", "https://example.org/guide")
