"""/readyz tells operators whether the bot can do its job, NLU server by NLU server; with
BOT_NLU_URL set the bot never starts a Rasa of its own, even when nothing answers there."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest
from pydantic import SecretStr

from bot.app import create_app
from bot.nlu.server import ManagedRasaServer, free_port
from bot.settings import Settings
from tests.loopback import serve

pytestmark = pytest.mark.rasa


async def _say(client: httpx.AsyncClient, text: str) -> list[dict[str, object]]:
    response = await client.post("/chat/api/messages", json={"message_id": uuid.uuid4().hex, "text": text})
    assert response.status_code == 200
    return list(response.json()["replies"])


async def test_with_the_nlu_url_silent_the_bot_starts_no_rasa_says_so_and_still_alarms(
    settings: Settings, tmp_path: object
) -> None:
    silent = f"http://127.0.0.1:{free_port()}"
    app_settings = settings.model_copy(
        update={"data_dir": tmp_path, "nlu_url": silent, "nlu_token": SecretStr("t"), "jobs": False}
    )
    started = time.monotonic()
    async with serve(create_app(app_settings)) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        # Loading a model takes Rasa tens of seconds: a bot that started one would not be up yet.
        assert time.monotonic() - started < settings.nlu_startup_timeout
        ready = await client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["nlu"] == "down"
        assert ready.json()["nlu_servers"] == {silent: "down"}
        alarm = await _say(client, "我不想活了")
        assert alarm[0]["key"] == "urgent.self_harm" and "12356" in str(alarm[0]["text"])
        menu = await _say(client, "楼上漏水")
        assert [r["key"] for r in menu] == ["menu_nlu_down"]  # the numbered menu stands in for the NLU


async def test_one_silent_server_of_two_leaves_the_bot_ready_and_understanding(
    rasa_server: ManagedRasaServer, settings: Settings, tmp_path: object
) -> None:
    silent = f"http://127.0.0.1:{free_port()}"
    app_settings = settings.model_copy(
        update={
            "data_dir": tmp_path,
            "nlu_url": f"{silent},{rasa_server.url}",
            "nlu_token": SecretStr(rasa_server.token),
            "jobs": False,
        }
    )
    async with serve(create_app(app_settings)) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        ready = await client.get("/readyz")
        assert ready.status_code == 200
        assert ready.json()["nlu_servers"] == {silent: "down", rasa_server.url: "ok"}
        for _ in range(3):  # whichever server the pool tries first, the message is understood
            client.cookies.clear()  # a new resident each time
            replies = await _say(client, "公司拖欠我三个月工资了")
            assert replies[0]["key"] == "report.confirm_type" and "劳动" in str(replies[0]["text"])
