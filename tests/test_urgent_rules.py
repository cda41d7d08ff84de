"""The rule layer must catch imminent danger on its own (recall first) and stay calm on figures
of speech and on violence that is over."""

from __future__ import annotations

import pytest

from bot.nlu.normalize import normalize_text
from bot.nlu.urgent import RuleVerdict, UrgentRules
from bot.settings import Settings


@pytest.fixture(scope="module")
def rules(settings: Settings) -> UrgentRules:
    return UrgentRules.load(settings.knowledge_dir)


URGENT = {
    "self_harm": [
        "活着没意思 我不想活了",
        "工资要不回来 我准备去跳楼",
        "她说要喝农药 我拦不住",
        "我妈吞了一瓶安眠药",
        "唔想活啦",
        "讨不到钱就从塔吊上跳下去",
        "去年我就想自杀 现在又想了",
        "这是我最后一条消息了 孩子拜托你们",
        "I really want to die tonight",
    ],
    "weapon": [
        "他拿着菜刀站在我家门口",
        "隔壁拎了一把斧头要冲过来",
        "對方提著刀在樓下",  # Traditional
        "佢揸住把刀",  # Cantonese-style
        "他说要往我家门上浇汽油",
    ],
    "violence_threat": [
        "我今晚就去砍死他",
        "再不还钱我跟他同归于尽",
        "他扬言要放火烧了我家",
        "明天不给钱就卸他一条腿",
        "我要杀了他全家",
    ],
    "fighting_now": [
        "两家人已经打起来了 快来",
        "他叫了一帮人过来要打我们",
        "村口聚众斗殴 好多人拿着棍子",
        "救命 快报警",
    ],
    "domestic_violence": [
        "老公正在打我 我躲在厕所",
        "他把我锁在家里不让出门",
        "又被家暴了",
        "my husband is HITTING me right now",
    ],
}

CALM = [
    "气死我了 楼上又在吵",
    "笑死 物业又涨价",
    "累死了 老板拖欠工资三个月",
    "去年他打过我一次 现在想调解赔偿",
    "以前他威胁过我 已经报警处理了",
    "老板说要砍我工资",
    "买菜杀价杀得太狠吵起来了",
    "他打我电话我没接",
    "我想打官司",
    "砍了一棵树 邻居不高兴",
    "死活不还钱",
    "拼车出了事故",
    "楼上漏水 烦死人了",
    "最后一次提醒物业修电梯了",
    "can you help me with my deposit",
]


@pytest.mark.parametrize(("category", "text"), [(c, t) for c, ts in URGENT.items() for t in ts])
def test_imminent_danger_is_flagged_with_its_category(rules: UrgentRules, category: str, text: str) -> None:
    match = rules.check(normalize_text(text))
    assert match.verdict is RuleVerdict.URGENT
    assert category in match.categories


@pytest.mark.parametrize("text", CALM)
def test_figures_of_speech_and_past_fights_do_not_alarm(rules: UrgentRules, text: str) -> None:
    assert rules.check(normalize_text(text)).verdict is not RuleVerdict.URGENT


def test_past_violence_is_recognised_as_past(rules: UrgentRules) -> None:
    assert rules.check("去年他拿着刀威胁过我").verdict is RuleVerdict.PAST


def test_past_marker_with_a_present_threat_still_alarms(rules: UrgentRules) -> None:
    assert rules.check("去年他打过我 今晚他又拿着刀来了").verdict is RuleVerdict.URGENT


def test_a_broken_pattern_file_is_reported_with_its_path(tmp_path: object, settings: Settings) -> None:
    from pathlib import Path

    folder = Path(str(tmp_path))
    (folder / "urgent_patterns.yml").write_text(
        "categories:\n  x:\n    patterns: ['(unclosed']\nfigures_of_speech: []\n"
        "past_markers: []\npresent_markers: []\n",
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=r"urgent_patterns\.yml"):
        UrgentRules.load(folder)
