"""Integration tests against the real Rasa server with the trained model."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from pathlib import Path

import pytest

from bot.nlu.classifier import Classifier
from bot.nlu.client import NluUnavailable, RasaClient
from bot.nlu.runtime import build_classifier
from bot.nlu.server import ManagedRasaServer, free_port
from bot.settings import Settings

pytestmark = pytest.mark.rasa

# (message, intent, dispute_type): a spread of types, registers and confusable pairs.
MESSAGES = [
    ("楼上邻居天天半夜拖椅子 吵得老人睡不着 帮忙调解一下", "report_dispute", "neighbor"),
    ("隔壁饭店的油烟直接排到我家窗户 熏得没法开窗", "report_dispute", "environment"),
    ("工地晚上十二点还在打桩 能不能管管", "report_dispute", "environment"),
    ("老公要离婚 孩子抚养权怎么判", "ask_legal", "family"),
    ("我爸走了 老房子兄弟几个怎么分 打起来好几次了 帮我们调解", "report_dispute", "family"),
    ("邻居盖房子占了我家宅基地半米", "report_dispute", "land"),
    ("包工头拖欠我们十几个人的工资快一年了", "report_dispute", "labor"),
    ("朋友借了我五万块钱 有借条 现在不还了", "report_dispute", "debt"),
    ("物业费一年涨了两次 电梯还三天两头坏", "report_dispute", "property_mgmt"),
    ("房东不退押金 说墙被我弄脏了", "report_dispute", "housing"),
    ("健身房跑路了 卡里还有三千块", "report_dispute", "consumer"),
    ("电动车被小车撞了 对方不肯赔", "report_dispute", "traffic"),
    ("在医院做完手术感染了 医院不认", "report_dispute", "medical"),
    ("拆迁补偿款村里一直不发", "report_dispute", "demolition"),
    ("孩子在学校被同学推倒摔断了手 学校推卸责任", "report_dispute", "other"),
    ("欠薪", "report_dispute", "labor"),
    ("樓上漏水把我家天花板泡壞了", "report_dispute", "neighbor"),
    ("借钱不还可以起诉吗 时效是多久", "ask_legal", "debt"),
    ("没签劳动合同可以要双倍工资吗", "ask_legal", "labor"),
    ("查一下我上周登记的那个案子进度", "check_progress", None),
    ("转人工", "human_handoff", None),
    ("你好", "greet", None),
    ("谢谢你们", "thanks", None),
    ("好的 没问题", "affirm", None),
    ("不是这个", "deny", None),
    ("取消 不登记了", "cancel", None),
    ("我家门口的公交站什么时候能恢复", "out_of_scope", None),
    ("再见", "goodbye", None),
]

URGENT = [
    "他拿着菜刀在我家门口说要砍死我",
    "我不想活了 工资要不回来",
    "村里两伙人约好了今晚带家伙打架",
    "老公正在打我 我躲在厕所里",
    "他说要放火烧了我家房子",
    "再不给钱我就跟他同归于尽",
]

CALM = ["气死我了 楼上又在吵", "去年他打过我一次 现在想调解赔偿", "老板说要砍我工资 这合法吗"]


async def test_messages_are_classified_into_the_contract(classifier: Classifier) -> None:
    results = [await classifier.classify(text) for text, _, _ in MESSAGES]
    intents_right = sum(
        r.intent is not None and r.intent.value == i for r, (_, i, _) in zip(results, MESSAGES, strict=True)
    )
    typed = [(r, t) for r, (_, _, t) in zip(results, MESSAGES, strict=True) if t]
    types_right = sum(r.dispute_type == t for r, t in typed)
    assert intents_right / len(MESSAGES) >= 0.85
    assert types_right / len(typed) >= 0.85
    for r in results:
        assert r.nlu_available
        assert (r.dispute_type is not None) == (r.intent is not None and r.intent.carries_dispute_type)


async def test_imminent_danger_is_always_urgent(classifier: Classifier) -> None:
    for text in URGENT:
        result = await classifier.classify(text)
        assert result.urgent, text
        assert result.intent is not None and result.intent.value == "urgent_risk"
        assert result.dispute_type is None
    assert (await classifier.classify("我不想活了")).self_harm


async def test_heated_words_are_not_urgent(classifier: Classifier) -> None:
    for text in CALM:
        assert not (await classifier.classify(text)).urgent, text


async def test_phone_and_case_numbers_are_found_inside_chinese_text(classifier: Classifier) -> None:
    result = await classifier.classify("查一下TJ20261105-0031的进度 我电话13912345678")
    assert "13912345678" in result.phones
    assert "TJ20261105-0031" in result.case_numbers


async def test_bad_input_gets_an_answer_not_a_crash(classifier: Classifier) -> None:
    for text in ["", "😡😡😡", "\x00\x01\x02", "'; DROP TABLE cases; --", "欠薪" * 5000, "1" * 3000]:
        result = await classifier.classify(text)
        assert result.nlu_available
    long = await classifier.classify("楼上漏水" * 2000)
    assert long.truncated and long.dispute_type == "neighbor"


async def test_a_wrong_token_is_refused(rasa_server: ManagedRasaServer) -> None:
    async with RasaClient(rasa_server.url, token="wrong") as client:
        with pytest.raises(NluUnavailable, match="refused"):
            await client.parse("你好")


def test_the_managed_server_listens_on_loopback_only(rasa_server: ManagedRasaServer) -> None:
    listening = [
        line.split()[1]
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]
        if line.split()[3] == "0A" and int(line.split()[1].split(":")[1], 16) == rasa_server.port
    ]
    assert listening == [f"0100007F:{rasa_server.port:04X}"]


async def test_a_killed_server_means_fallback_then_it_is_restarted(
    settings: Settings, trained_model: Path
) -> None:
    server = ManagedRasaServer(
        rasa_venv=settings.rasa_venv,
        model_path=trained_model,
        port=free_port(),
        log_path=settings.data_dir / "logs" / "rasa-restart.log",
    )
    await server.start()
    try:
        async with RasaClient(server.url, token=server.token, timeout=2, retries=0) as client:
            classifier = build_classifier(settings, client)
            assert (await classifier.classify("欠薪")).nlu_available
            assert server.pid is not None
            os.kill(server.pid, signal.SIGKILL)
            await asyncio.sleep(0.5)
            # A message the model has not answered before (short answers are remembered).
            down = await classifier.classify("老板欠薪三个月不给")
            assert not down.nlu_available and down.intent is None
            deadline = time.monotonic() + settings.nlu_startup_timeout
            while time.monotonic() < deadline and not await client.is_ready():
                await asyncio.sleep(1)
            assert server.restarts == 1
            assert (await classifier.classify("欠薪")).dispute_type == "labor"
    finally:
        await server.stop()
    assert server.pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(server.pid, 0)
