"""Every text residents see lives in knowledge/replies.yml, exists where the code asks for it,
and fits a phone screen."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.dialogs.replies import Replies
from bot.settings import PROJECT_ROOT, Settings

CODE = [p for p in (PROJECT_ROOT / "bot").rglob("*.py")]
# Placeholders the code fills (besides the centre's facts, which Replies fills itself).
KNOWN = {
    "centre", "hotline", "duty_hours", "address", "response_days", "retention", "limit", "type_name",
    "type_description", "type_list", "count", "phone", "fields", "reference", "items", "step", "meaning",
    "next", "answer", "basis", "case_no", "note", "department", "text", "label", "value", "where",
    "keep_message_days", "keep_state_days", "cases", "phones", "last4", "references", "cases_part",
}  # fmt: skip


@pytest.fixture(scope="module")
def replies(settings: Settings) -> Replies:
    return Replies.load(settings.knowledge_dir)


def _keys_used_in_code() -> set[str]:
    used = set()
    for path in CODE:
        used.update(re.findall(r"""(?:say|text)\(\s*["']([a-z_.]+)["']""", path.read_text(encoding="utf-8")))
    return used


def test_every_key_the_code_uses_exists(replies: Replies) -> None:
    missing = _keys_used_in_code() - set(replies.keys)
    assert not missing, f"add to knowledge/replies.yml: {sorted(missing)}"


def test_every_text_is_used(replies: Replies) -> None:
    used = _keys_used_in_code()
    # Keys chosen at run time (conditional expressions) appear as string literals in the code.
    literals = set()
    for path in CODE:
        literals.update(re.findall(r"""["']([a-z_]+(?:\.[a-z_]+)*)["']""", path.read_text(encoding="utf-8")))
    unused = set(replies.keys) - used - literals
    assert not unused, f"texts nobody shows: {sorted(unused)}"


def test_placeholders_are_known_and_texts_fit_a_phone(replies: Replies) -> None:
    for key in replies.keys:
        template = replies.template(key)
        assert template.placeholders() <= KNOWN, (key, template.placeholders() - KNOWN)
        assert len(template.text) <= 200, key
        assert all(len(o) <= 8 for o in template.options), key


def test_no_resident_facing_chinese_outside_knowledge() -> None:
    # Chinese text in code is either a comment, a docstring, or a pattern — not a reply.
    offenders = []
    for path in (PROJECT_ROOT / "bot" / "dialogs").rglob("*.py"):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            stripped = line.strip()
            if re.search(r"Outbound\(\s*text=\s*[\"'][^\"']*[\u4e00-\u9fff]", stripped):
                offenders.append(f"{path.relative_to(PROJECT_ROOT)}:{number}")
    assert not offenders


def test_the_dialog_domain_imports_no_framework() -> None:
    forbidden = re.compile(
        r"^\s*(?:from|import)\s+(fastapi|starlette|sqlalchemy|wechatpy|telegram|httpx|uvicorn)\b"
    )
    offenders = [
        f"{path.relative_to(PROJECT_ROOT)}: {line.strip()}"
        for folder in ("dialogs", "faq", "cases")
        for path in (PROJECT_ROOT / "bot" / folder).rglob("*.py")
        for line in path.read_text(encoding="utf-8").splitlines()
        if forbidden.match(line)
    ]
    assert not offenders, offenders


def test_knowledge_files_are_where_the_readme_says(settings: Settings) -> None:
    for name in ("replies.yml", "centre.yml", "dispute_types.yml", "urgent_patterns.yml", "routing.yml"):
        assert Path(settings.knowledge_dir / name).exists(), name


def test_the_web_chat_page_takes_its_words_from_knowledge(replies: Replies) -> None:
    template = PROJECT_ROOT / "bot" / "handlers" / "templates" / "chat.html"
    assert not re.search(r"[\u4e00-\u9fff]", template.read_text(encoding="utf-8"))
    assert {"welcome", "send", "typing", "retrying", "failed", "resend"} <= set(replies.web)
