"""End to end, everything real except WeChat's servers: a resident reports a dispute through the
official account (signed, AES-encrypted requests), with a photo; the case appears on the case
desk with the photo attached; staff move it to 先行调解; the resident gets the news on WeChat."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import select

from backend_client.models import Step
from bot.app import create_app
from bot.dialogs.replies import Replies
from bot.nlu.server import ManagedRasaServer
from bot.settings import Settings, WeChatMode
from tests.conftest import DESK_TOKEN, RunningDesk, answer_report
from tests.fakes.wechat_api import FakeWeChat, fake_wechat
from tests.loopback import serve
from tests.wechat.wechat_server import WeChatServer, random_aes_key

__all__ = ["fake_wechat"]
pytestmark = pytest.mark.rasa

TOKEN = "e2eWeChatToken"
PHOTO = b"\xff\xd8\xff\xe0 a photo of the water stain on the ceiling"
DEADLINE = 60.0  # seconds: generous; the jobs run every fraction of a second


async def eventually(check: Callable[[], Awaitable[Any]], what: str) -> Any:
    """Poll until ``check`` returns something truthy (the jobs run on their own schedule)."""
    async with asyncio.timeout(DEADLINE):
        while not (result := await check()):
            await asyncio.sleep(0.1)
    assert result, what
    return result


async def test_a_wechat_report_reaches_the_desk_and_its_progress_comes_back_on_wechat(
    rasa_server: ManagedRasaServer,
    db_settings: Settings,
    casedesk: RunningDesk,
    fake_wechat: FakeWeChat,
) -> None:
    aes_key = random_aes_key()
    # The bot's database of this session, not a new one: the desk is shared by the session's
    # tests, and a new database would hand out reference numbers the desk already has.
    settings = fake_wechat.configure(
        db_settings,
        nlu_url=rasa_server.url,
        nlu_token=SecretStr(rasa_server.token),
        backend_url=casedesk.url,
        backend_token=SecretStr(DESK_TOKEN),
        outbox_interval=0.2,
        notify_interval=0.2,
        sync_interval=0.5,
        wechat_token=SecretStr(TOKEN),
        wechat_encoding_aes_key=SecretStr(aes_key),
        wechat_mode=WeChatMode.SAFE,
    )
    fake_wechat.add_media("media-ceiling-1", PHOTO)
    async with serve(create_app(settings)) as url, httpx.AsyncClient(base_url=url, timeout=30) as client:
        wechat = WeChatServer(client, token=TOKEN, app_id=fake_wechat.app_id, aes_key=aes_key, mode="safe")
        resident = wechat.resident()
        fake_wechat.resident_wrote(resident.openid)

        async def says(text: str) -> str:
            return (await resident.say(text)).text

        assert "纠纷" in await says("楼上邻居家卫生间漏水，把我家天花板泡坏了，找他们好几次都不管")
        asked = await says("是")
        await resident.send(resident.image_xml("media-ceiling-1"))  # evidence, during the report
        answers = {
            "report.ask_place": "幸福小区3栋502",
            "report.ask_time": "上个月开始",
            "report.ask_other_party": "楼上602",
            "report.ask_name": "王女士",
        }
        replies = Replies.load(settings.knowledge_dir)
        await answer_report(says, replies, asked, phone="13812345678", answers=answers)
        receipt = await says("确认")
        reference = receipt.split("编号 ")[1].split("，")[0]

        # The case is filed at the desk by the outbox job, with the photo fetched from WeChat.
        case_no = await eventually(lambda: _case_no(casedesk, reference), "the case reached the desk")
        detail = await eventually(
            lambda: _with_attachment(casedesk, case_no), "the photo was attached to the case"
        )
        assert detail.case.reference == reference
        # The resident is told the case number by a customer-service message.
        await eventually(
            lambda: _texts_containing(fake_wechat, resident.openid, case_no), "told the case number"
        )

        # Staff move the case; the progress sync notices and WeChat carries the news.
        await casedesk.store.move_case(
            case_no, to=Step.MEDIATION, expected=Step.ACCEPTED, public_note="周三下午社区调解室", staff="t"
        )
        news = await eventually(
            lambda: _texts_containing(fake_wechat, resident.openid, "先行调解"), "told of the move"
        )
        assert "周三下午社区调解室" in news[0]
        assert "13812345678" not in "".join(fake_wechat.texts_to(resident.openid))  # no phone pushed


async def _case_no(desk: RunningDesk, reference: str) -> str | None:
    from casedesk.db import Base

    table = Base.metadata.tables["cases"]
    async with desk.store.engine.connect() as connection:
        value = await connection.scalar(select(table.c.case_no).where(table.c.reference == reference))
    return str(value) if value else None


async def _with_attachment(desk: RunningDesk, case_no: str) -> Any:
    detail = await desk.store.case_detail(case_no)
    if not detail.attachments:
        return None
    stored = detail.attachments[0]
    assert (desk.settings.attachments_dir / stored.storage_name).read_bytes() == PHOTO
    assert stored.content_type == "image/jpeg"
    return detail


async def _texts_containing(fake: FakeWeChat, openid: str, needle: str) -> list[str]:
    return [text for text in fake.texts_to(openid) if needle in text]
