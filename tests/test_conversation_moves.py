"""The report conversation's own understanding, without the NLU (it must work when Rasa is down):
repair moves mid-report, details picked out of any message, and states saved by the previous
version of the report flow. The phrasings are the ones residents used when the flow failed them
(issue 11), and the dev set written apart from the rules (docs/labelling-moves.md)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from bot.dialogs import extract
from bot.dialogs.evaluation import read_items, score_extraction, score_moves
from bot.dialogs.flows import REGISTRY
from bot.dialogs.move_model import CORPUS_DIR, WEIGHTS_FILE
from bot.dialogs.moves import MoveKind, read_move
from bot.dialogs.registry import FlowSpec, Registry
from bot.dialogs.state import ConversationState

DEV = Path(__file__).parent / "data" / "moves_dev.jsonl"


@pytest.mark.parametrize(
    ("pending", "text", "kind", "slot", "value"),
    [
        (
            "other_party",
            "等一下，刚才地址说错了，是阳光花园6栋，不是5栋",
            MoveKind.CORRECTION,
            "place",
            "阳光花园6栋",
        ),
        ("summary", "第5条不对，对方是楼上602的住户", MoveKind.CORRECTION, "#5", "楼上602的住户"),
        ("summary", "对方不是602，是702", MoveKind.CORRECTION, "other_party", "702"),
        ("name", "电话打错了 应该是13900002222", MoveKind.CORRECTION, "phone", "13900002222"),
        ("place", "算了不登记了", MoveKind.CANCEL, None, None),
        ("occurred", "先不弄了", MoveKind.CANCEL, None, None),
        ("dispute_type", "我不是要登记，就是想问问", MoveKind.ONLY_ASK, None, None),
        ("phone", "我不想留电话，能不能不留", MoveKind.DECLINE, None, None),
        ("name", "名字不方便说", MoveKind.DECLINE, None, None),
        ("occurred", "上一步", MoveKind.BACK, None, None),
        ("place", "能不能找个真人跟我说", MoveKind.HANDOFF, None, None),
        ("phone", "你们会把我的电话给对方吗？", MoveKind.SIDE_QUESTION, None, None),
    ],
)
def test_what_residents_wrote_is_read_as_the_move_they_made(
    pending: str, text: str, kind: MoveKind, slot: str | None, value: str | None
) -> None:
    move = read_move(text, pending)
    assert move is not None, text
    assert move.kind is kind
    if slot is not None:
        assert move.slot == slot
    if value is not None:
        assert move.value == value


@pytest.mark.parametrize(
    ("pending", "text"),
    [
        ("dispute_type", "不是"),  # rejects the proposed type: an answer
        ("consent", "不同意"),
        ("occurred", "不清楚"),
        ("place", "阳光花园5栋"),
        ("name", "我姓王"),
        ("phone", "139 0000 1111"),
        ("description", "邻居说不是他家狗咬的 错不了就是他家的 打疫苗花了一千多"),
        ("summary", "确认"),
    ],
)
def test_answers_are_not_taken_for_moves(pending: str, text: str) -> None:
    assert read_move(text, pending) is None


@pytest.mark.parametrize(
    ("pending", "text", "kind"),
    [
        ("phone", "这事儿我想了想还是先搁着吧", MoveKind.CANCEL),
        ("place", "我改主意了", MoveKind.CANCEL),
        ("phone", "还是不麻烦你们了", MoveKind.CANCEL),
        ("phone", "家里就一个座机，不太想给", MoveKind.DECLINE),
        ("name", "我爸让我别留真名", MoveKind.DECLINE),
    ],
)
def test_moves_worded_as_no_rule_lists_are_read_by_the_learned_model(
    pending: str, text: str, kind: MoveKind
) -> None:
    move = read_move(text, pending)
    assert move is not None and move.kind is kind, (text, move)


def test_a_correction_that_names_no_detail_corrects_the_one_holding_the_replaced_words() -> None:
    known = {"description": "隔壁装修天天开电钻", "place": "幸福里5号楼", "other_party": "西头老李家"}
    move = read_move("俺记岔了，是东头那家不是西头", "name", known=known)
    assert move is not None and move.kind is MoveKind.CORRECTION
    assert (move.slot, move.value, move.replaced) == ("other_party", "东头那家", "西头")


def test_the_shipped_move_model_was_trained_on_the_corpus_as_it_is() -> None:
    files = sorted(CORPUS_DIR.glob("*.jsonl"))
    shipped = json.loads(WEIGHTS_FILE.read_text(encoding="utf-8"))
    assert shipped["corpus"] == [path.name for path in files], "run `make move-model`"
    digest = hashlib.sha256(b"".join(path.read_bytes() for path in files)).hexdigest()
    assert shipped["corpus_sha256"] == digest, "the move corpus changed: run `make move-model`"


def test_on_the_dev_set_few_moves_are_stored_as_answers_and_few_answers_lost() -> None:
    score = score_moves(read_items(DEV)).as_dict()
    assert score["moves_stored_as_answers"] <= 3.0, score
    assert score["answers_taken_as_moves"] <= 5.0, score
    assert score["correction_slot"] >= 90.0, score


def test_details_picked_from_first_messages_are_mostly_right() -> None:
    scores = {name: s.as_dict() for name, s in score_extraction(read_items(DEV)).items()}
    for name in ("place", "occurred", "other_party", "name"):
        assert scores[name]["precision"] >= 90.0, (name, scores[name])
        assert scores[name]["recall"] >= 70.0, (name, scores[name])


@pytest.mark.parametrize(
    ("text", "place", "occurred", "party"),
    [
        ("楼上天天半夜剁东西 吵得睡不着 我住阳光花园5栋", "阳光花园5栋", "天天半夜", "楼上"),
        ("包工头老李欠我们一个月工钱 工地在滨江新城二期", "滨江新城二期", None, "包工头老李"),
        ("我想反映一下我们村里修路把排水沟堵了 我们是红旗村五组的", "红旗村五组", None, None),
    ],
)
def test_details_in_a_first_message(text: str, place: str, occurred: str | None, party: str | None) -> None:
    assert extract.place(text) == place
    assert extract.occurred(text) == occurred
    assert extract.other_party(text) == party


@pytest.mark.parametrize(
    ("text", "name"),
    [
        ("我姓王", "王"),
        ("叫我老李就行", "老李"),
        ("我是退休教师吴秀兰", "吴秀兰"),
        ("我是环卫工", None),
        ("我是楼上的", None),
    ],
)
def test_names_residents_introduce_themselves_with(text: str, name: str | None) -> None:
    assert extract.name(text) == name


def test_a_report_saved_by_the_previous_flow_resumes_in_the_form() -> None:
    old = {
        "flow": "report",
        "step": "confirm_type",
        "slots": {"description": "楼上漏水", "_suggested": "neighbor"},
        "paused": {"flow": "report", "step": "known_phone", "slots": {"_offered_phone": "13900001111"}},
    }
    state = ConversationState.from_json(old)
    assert (state.step, state.form.offered, state.slots) == (
        "dispute_type",
        "neighbor",
        {"description": "楼上漏水"},
    )
    assert state.paused is not None
    assert (state.paused.step, state.paused.form.offered) == ("phone", "13900001111")
    assert ConversationState.from_json(state.to_json()) == state


def test_two_flows_cannot_claim_the_same_command() -> None:
    REGISTRY.check()
    clash = Registry((*REGISTRY.flows, FlowSpec("other", commands=("查进度",))))
    with pytest.raises(ValueError, match="查进度"):
        clash.check()
