"""Legal FAQ: answer a legal question from the FAQs, with its legal basis, then offer to
register the problem.

```mermaid
stateDiagram-v2
    [*] --> answer: ask_legal / 法律咨询
    answer --> offer: FAQ found → answer + 依据 + 需要帮您登记求助吗？
    answer --> pick: not sure → 您是想问哪一个？ (up to 3 FAQs), miss recorded
    answer --> [*]: not sure, nothing close → offer 登记 / 转人工, miss recorded
    pick --> offer: a number → that FAQ's answer
    pick --> [*]: 都不是 → the numbers to call, 转人工
    offer --> report: 需要
    offer --> [*]: 不用了
```
"""

from __future__ import annotations

import re

from bot.dialogs import parsing
from bot.dialogs.answers import answer_replies, answer_with, where_to_call
from bot.dialogs.flows import report
from bot.dialogs.registry import FlowSpec
from bot.dialogs.state import ConversationState
from bot.dialogs.turn import Step, Turn
from bot.dialogs.work import FaqMiss
from bot.nlu.labels import Intent

FLOW = "legal"


def ask_question(turn: Turn, state: ConversationState) -> Step:
    return Step(state.goto(FLOW, "ask"), (turn.say("faq.ask_question"),))


def answer(turn: Turn, state: ConversationState, *, description: str | None = None) -> Step:
    """Answer; ``description``: the message described the resident's own problem, and becomes
    the report's description if they accept the offer to register."""
    replies, dispute_type, miss, faq_id, suggested = answer_replies(turn)
    if miss and suggested:  # "您是不是想问": the resident picks one, or says none of them
        slots = {"suggested": list(suggested), "question": turn.text, "dispute_type": turn.nlu.dispute_type}
        return Step(state.goto(FLOW, "pick", slots), replies, (miss,))
    if miss:
        return Step(state.idle(), replies, (miss,))
    slots = {"dispute_type": dispute_type, "description": description, "question": turn.text, "faq": faq_id}
    return Step(state.goto(FLOW, "offer", slots), replies)


_HELPFUL = re.compile(r"^(有用|有帮助|很有用|挺有用|明白了|懂了|清楚了|谢谢)[!。.~]*$")
_NOT_HELPFUL = re.compile(
    r"^(没用|没有用|没帮助|没有帮助|不对|答非所问|不是这个意思|不是我问的|看不懂)[!。.~]*$"
)


def _not_helpful(turn: Turn, state: ConversationState) -> Step:
    """ "没用": the question goes to the volunteers' queue with the FAQ it got, so they see wrong
    answers too; the resident gets the numbers and the ways on."""
    slots = state.slots
    miss = FaqMiss(
        text=str(slots.get("question") or ""),
        dispute_type=slots.get("dispute_type"),
        answered_with=slots.get("faq"),
    )
    where = where_to_call(turn, slots.get("dispute_type"))
    return Step(state.idle(), (turn.say("faq.not_helpful", where=where),), (miss,))


def _picked(turn: Turn, state: ConversationState) -> Step | None:
    """The answer to "您是不是想问": a number shows that FAQ's answer (then 有用/没用 as usual)."""
    suggested = [str(i) for i in state.slots.get("suggested") or ()]
    choice = parsing.parse_number(turn.text, len(suggested))
    if choice is not None:
        faq = next((f for f in turn.svc.faqs.index().faqs if f.id == suggested[choice - 1]), None)
        if faq is None:  # retired since it was offered
            return Step(state.idle(), (turn.say("faq.not_sure", where=where_to_call(turn)),))
        replies, dispute_type, _, faq_id, _ = answer_with(turn, faq)
        question = state.slots.get("question")
        slots = {"dispute_type": dispute_type, "description": None, "question": question, "faq": faq_id}
        return Step(state.goto(FLOW, "offer", slots), replies)
    if parsing.is_no(turn.text) or turn.text.strip() in ("都不是", "都不对", "没有", "不是"):
        where = where_to_call(turn, state.slots.get("dispute_type"))
        return Step(state.idle(), (turn.say("faq.not_sure", where=where),))
    return None


async def on_message(turn: Turn, state: ConversationState) -> Step | None:
    if state.step == "ask":
        # A photo or a place is not a question: the router answers it as such.
        return answer(turn, state) if turn.text else None
    if state.step == "pick":
        return _picked(turn, state)
    if state.step == "offer":
        if parsing.is_yes(turn.text):
            if state.paused is not None and state.paused.flow == report.FLOW:
                # "我只是想问问" set a report aside: it goes on where it stopped.
                resumed = state.idle().resume()
                return (await report.reprompt(turn, resumed)).before(turn.say("resumed"))
            return await report.start(
                turn,
                state.idle(),
                dispute_type=state.slots.get("dispute_type"),
                describe=False,
                description=state.slots.get("description"),
            )
        if parsing.is_no(turn.text):
            return Step(state.idle(), (turn.say("faq.declined"),))
        if _NOT_HELPFUL.match(turn.text.strip()) and state.slots.get("question"):
            return _not_helpful(turn, state)
        if _HELPFUL.match(turn.text.strip()):
            return Step(state, (turn.say("faq.thanks_feedback"),))
    return None  # something else: the router treats it as a new request


async def _by_command(turn: Turn, state: ConversationState) -> Step:
    return ask_question(turn, state.idle())


async def _by_intent(turn: Turn, state: ConversationState) -> Step:
    return answer(turn, state)


SPEC = FlowSpec(
    FLOW,
    on_message=on_message,
    on_command=_by_command,
    on_intent=_by_intent,
    commands=(
        "法律咨询",
        "法律知识",
        "法律知识问答",
        "咨询法律问题",
        "我想咨询法律问题",
        "法律问题",
        "我要咨询",
    ),
    intents=(Intent.ASK_LEGAL,),
    menu=3,
)
