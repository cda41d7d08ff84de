"""A resident's rights over their personal data in the chat (个人信息保护法 第四十四至四十七条):
"我的信息" shows what the bot holds about them and for how long; "删除我的信息" asks once, then
deletes the bot's copy at once and asks the case system to delete or keep its copy (the
resident hears the outcome when it answers). Plain variants are recognised by ``rights``.

```mermaid
stateDiagram-v2
    [*] --> shown: 我的信息 / "你们存了我哪些信息"
    [*] --> confirm: 删除我的信息 / "把我的资料都删了"
    confirm --> [*]: 确认删除 (EraseResident)
    confirm --> [*]: 不删了 (nothing changes)
```
"""

from __future__ import annotations

from bot.dialogs import parsing
from bot.dialogs.ports import CaseView
from bot.dialogs.registry import FlowSpec
from bot.dialogs.rights import DataRequest, data_request
from bot.dialogs.state import ConversationState
from bot.dialogs.turn import Step, Turn
from bot.dialogs.work import EraseResident

FLOW = "my_data"
CONFIRM = "confirm_erase"
_CONFIRM_WORDS = frozenset({"确认删除", "确定删除", "删除", "删吧", "删", "确认", "确定"})
_KEEP_WORDS = frozenset({"不删了", "不删", "先不删", "算了", "不用了", "取消", "保留"})


def recognised(turn: Turn) -> DataRequest | None:
    return data_request(turn.text)


async def start(turn: Turn, state: ConversationState, request: DataRequest) -> Step:
    if request is DataRequest.VIEW:
        return await show(turn, state)
    # A report in progress is set aside, not lost, in case the resident changes their mind.
    held = state.pause() if state.flow == "report" else state
    return Step(held.goto(FLOW, CONFIRM), (turn.say("privacy.confirm_erase"),))


async def show(turn: Turn, state: ConversationState) -> Step:
    cases = await turn.desk.cases_of(turn.inbound.channel, turn.inbound.user_id)
    lines = "\n".join(_case_line(turn, c) for c in cases) or turn.svc.replies.text("privacy.no_cases")
    last4 = sorted({c.phone_last4 for c in cases if c.phone_last4})
    phones = (
        turn.svc.replies.text("privacy.phones", last4="、".join(last4))
        if last4
        else turn.svc.replies.text("privacy.no_phone")
    )
    return Step(state, (turn.say("privacy.my_data", cases=lines, phones=phones),))


def _case_line(turn: Turn, case: CaseView) -> str:
    step = turn.svc.steps.get(case.step).name if case.step else turn.svc.replies.text("progress.pending")
    type_name = turn.svc.catalog.get(case.dispute_type).name
    return turn.svc.replies.text(
        "privacy.case_item", reference=case.reference, type_name=type_name, step=step
    )


async def on_message(turn: Turn, state: ConversationState) -> Step | None:
    """The answer to "确定删除吗？"."""
    word = turn.text.strip().rstrip("!。.！~～")
    if word in _CONFIRM_WORDS or parsing.is_yes(turn.text):
        erase = EraseResident(turn.inbound.channel, turn.inbound.user_id)
        # Nothing of the conversation stays: no report set aside, no phone numbers remembered.
        return Step(state.forget_personal(), (turn.say("privacy.erasing"),), (erase,))
    if word in _KEEP_WORDS or parsing.is_no(turn.text):
        kept = state.idle()
        if kept.paused is not None:
            return Step(kept, (turn.say("privacy.kept"), turn.say("resume_offer")))
        return Step(kept, (turn.say("privacy.kept"),))
    if recognised(turn) is DataRequest.ERASE:
        return Step(state, (turn.say("privacy.confirm_unclear"),))
    return None  # something else: a new request (nothing is deleted)


async def _by_command(turn: Turn, state: ConversationState) -> Step:
    return await start(turn, state, recognised(turn) or DataRequest.VIEW)


SPEC = FlowSpec(
    FLOW,
    on_message=on_message,
    on_command=_by_command,
    commands=("我的信息", "删除我的信息", "删除我的数据", "查看我的信息", "个人信息"),
)
