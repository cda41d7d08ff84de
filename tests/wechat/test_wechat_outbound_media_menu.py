"""Residents' photos fetched from WeChat, the account's menu, and ``bot wechat …`` commands."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
import yaml
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from bot.channel import ChannelParts
from bot.cli_wechat import wechat_app
from bot.jobs.media import MediaGone
from bot.settings import PROJECT_ROOT, Settings
from bot.storage import models
from bot.storage.db import sessions
from bot.wechat.api import WeChatRejected
from bot.wechat.menu import MenuError, load_menu_json, publish_menu
from bot.wechat.parts import wechat_api, wechat_channel
from bot.wechat.token import JOB_NAME
from tests.fakes import wechat_api as fakes
from tests.fakes.wechat_api import APP_ID, APP_SECRET, FakeWeChat

fake_wechat = fakes.fake_wechat  # the fixture

KNOWLEDGE = PROJECT_ROOT / "knowledge"
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + bytes(range(256)) + b"\xff\xd9"


@pytest_asyncio.fixture(autouse=True)
async def no_stored_token(database: AsyncEngine) -> None:
    async with sessions(database).begin() as session:
        await session.execute(delete(models.ChannelToken))
        await session.execute(delete(models.JobLease).where(models.JobLease.name == JOB_NAME))


@pytest_asyncio.fixture
async def channel(
    fake_wechat: FakeWeChat, db_settings: Settings, database: AsyncEngine
) -> AsyncIterator[ChannelParts]:
    async with wechat_channel(fake_wechat.configure(db_settings), database) as parts:
        await parts.jobs[0].run()
        yield parts


def expected_menu() -> dict[str, Any]:
    """WeChat's menu/create body for knowledge/wechat_menu.yml, written out by hand."""
    raw = yaml.safe_load((KNOWLEDGE / "wechat_menu.yml").read_text(encoding="utf-8"))

    def click(button: dict[str, Any]) -> dict[str, Any]:
        return {"type": "click", "name": button["name"], "key": button["key"]}

    return {
        "button": [
            {"name": b["name"], "sub_button": [click(s) for s in b["sub_buttons"]]}
            if b.get("sub_buttons")
            else click(b)
            for b in raw["buttons"]
        ]
    }


# --- media ---


async def test_a_photo_is_fetched_with_a_neutral_name(channel: ChannelParts, fake_wechat: FakeWeChat) -> None:
    fake_wechat.add_media("MEDIA_abc123", JPEG, "image/jpeg")
    assert channel.media is not None
    media = await channel.media.fetch("MEDIA_abc123")
    assert (media.content, media.content_type) == (JPEG, "image/jpeg")
    assert media.filename.startswith("wechat-") and media.filename.endswith(".jpg")
    assert "MEDIA_abc123" not in media.filename


async def test_expired_media_is_gone(channel: ChannelParts, fake_wechat: FakeWeChat) -> None:
    assert channel.media is not None
    with pytest.raises(MediaGone):
        await channel.media.fetch("MEDIA_from_last_week")
    assert fake_wechat.refused == [("/cgi-bin/media/get", 40007)]


# --- the menu ---


async def test_the_menu_is_published_in_wechats_format(
    channel: ChannelParts, fake_wechat: FakeWeChat, db_settings: Settings, database: AsyncEngine
) -> None:
    async with wechat_api(fake_wechat.configure(db_settings), database) as api:
        sent = await publish_menu(api, KNOWLEDGE)
    assert sent == expected_menu()
    assert fake_wechat.menus == [expected_menu()]  # accepted, with its names as UTF-8, not \\u escapes


def write_menu(folder: Path, buttons: list[dict[str, Any]]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    text = yaml.safe_dump({"buttons": buttons}, allow_unicode=True)
    (folder / "wechat_menu.yml").write_text(text, encoding="utf-8")
    return folder


def test_a_name_too_long_is_refused_naming_the_button(tmp_path: Path) -> None:
    folder = write_menu(
        tmp_path,
        [
            {"name": "查询进度", "key": "CHECK", "says": "查询进度"},
            {"name": "我要登记矛盾纠纷", "key": "REPORT", "says": "登记纠纷"},
        ],
    )
    with pytest.raises(MenuError, match="我要登记矛盾纠纷"):
        load_menu_json(folder)
    nested = write_menu(
        tmp_path / "nested",
        [
            {
                "name": "更多",
                "sub_buttons": [{"name": "法律知识问答与咨询服务", "key": "L", "says": "法律咨询"}],
            }
        ],
    )
    with pytest.raises(MenuError, match="sub-button '法律知识问答与咨询服务'"):
        load_menu_json(nested)
    four = write_menu(
        tmp_path / "four", [{"name": f"按钮{n}", "key": f"K{n}", "says": "帮助"} for n in range(4)]
    )
    with pytest.raises(MenuError, match="at most 3"):
        load_menu_json(four)


async def test_wechat_itself_refuses_what_the_check_catches(
    channel: ChannelParts, fake_wechat: FakeWeChat, db_settings: Settings, database: AsyncEngine
) -> None:
    async with wechat_api(fake_wechat.configure(db_settings), database) as api:
        with pytest.raises(WeChatRejected, match="40018"):
            await api.create_menu({"button": [{"type": "click", "name": "我要登记矛盾纠纷", "key": "R"}]})


# --- bot wechat … ---


@pytest.fixture
def wechat_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in ("BOT_DATABASE_URL", "BOT_WECHAT_APP_ID", "BOT_WECHAT_APP_SECRET", "BOT_WECHAT_API_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BOT_DATA_DIR", str(tmp_path / "var"))
    return monkeypatch


def test_menu_dry_run_prints_the_json(wechat_env: pytest.MonkeyPatch) -> None:
    result = CliRunner().invoke(wechat_app, ["menu", "--dry-run"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.output) == expected_menu()


def test_commands_say_what_is_missing_when_wechat_is_not_configured(wechat_env: pytest.MonkeyPatch) -> None:
    for command in (["menu"], ["token"]):
        result = CliRunner().invoke(wechat_app, command)
        assert result.exit_code == 1
        assert "BOT_WECHAT_APP_ID" in result.output and "BOT_WECHAT_APP_SECRET" in result.output


async def test_token_and_menu_commands_against_wechat(
    wechat_env: pytest.MonkeyPatch, fake_wechat: FakeWeChat
) -> None:
    wechat_env.setenv("BOT_WECHAT_API_URL", fake_wechat.url)
    wechat_env.setenv("BOT_WECHAT_APP_ID", APP_ID)
    wechat_env.setenv("BOT_WECHAT_APP_SECRET", APP_SECRET)
    runner = CliRunner()
    # The commands run their own event loop: off this one, which serves the fake.
    first = await asyncio.to_thread(runner.invoke, wechat_app, ["token"])
    assert first.exit_code == 0, first.output
    assert "fetched, valid until" in first.output
    assert fake_wechat.current_token and fake_wechat.current_token not in first.output
    again = await asyncio.to_thread(runner.invoke, wechat_app, ["token"])
    assert "still valid" in again.output
    published = await asyncio.to_thread(runner.invoke, wechat_app, ["menu"])
    assert published.exit_code == 0, published.output
    assert "menu published" in published.output
    assert fake_wechat.menus == [expected_menu()]
    assert fake_wechat.token_requests == 1
