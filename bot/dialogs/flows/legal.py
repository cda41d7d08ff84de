"""Legal FAQ: answer a legal question from the FAQs, with its legal basis, then offer to
register the problem.

```mermaid
stateDiagram-v2
    [*] --> answer: ask_legal / 法律咨询
    answer --> offer: FAQ found → answer + 依据 + 需要帮您登记求助吗？
    answer --> [*]: not sure → offer 登记 / 转人工, miss recorded
    offer --> report: 需要
    offer --> [*]: 不用了
```
"""

from __future__ import annotations

from bot.dialogs import parsing
from bot.dialogs.flows import report
from bot.dialogs.messages import Outbound
from bot.dialogs.state import ConversationState
from bot.dialogs.turn import Step, Turn
from bot.dialogs.work import FaqMiss
from bot.faq.model import Faq

FLOW = "legal"
#: How far above the threshold an FAQ must score to answer a message the NLU did not see as a
#: legal question (out of scope, or unsure).
CONFIDENT_MARGIN = 1.3


def answer_replies(
    turn: Turn, *, brief: bool = False
) -> tuple[tuple[Outbound, ...], str | None, FaqMiss | None]:
    """The answer to the turn's question, the FAQ's dispute type, and a miss when not sure.

    ``brief``: the answer is given in passing (inside a report, after an alarm), so it offers
    nothing further: no "需要帮您登记求助吗？" and no buttons that would start something new.
    """
    result = turn.svc.faqs.index().search(turn.text, dispute_type=turn.nlu.dispute_type)
    faq = result.best
    if faq is None:
        miss = FaqMiss(turn.text, turn.nlu.dispute_type, tuple(c.faq.id for c in result.candidates))
        return (turn.say("faq.not_sure_in_report" if brief else "faq.not_sure"),), None, miss
    key = "faq.brief" if brief else "faq.answer"
    reply = turn.say(key, answer=faq.answer, basis=faq.basis_text() or "—")
    return (reply,), faq.dispute_type or turn.nlu.dispute_type, None


def confident_answer(turn: Turn) -> Faq | None:
    """An FAQ that clearly answers the message, even when the NLU did not call it a legal question."""
    result = turn.svc.faqs.index().search(turn.text, dispute_type=turn.nlu.dispute_type)
    best = result.candidates[0] if result.candidates else None
    if result.best is None or best is None or best.score < result.threshold * CONFIDENT_MARGIN:
        return None
    return best.faq


def ask_question(turn: Turn, state: ConversationState) -> Step:
    return Step(state.goto(FLOW, "ask"), (turn.say("faq.ask_question"),))


def answer(turn: Turn, state: ConversationState, *, description: str | None = None) -> Step:
    """Answer; ``description``: the message described the resident's own problem, and becomes
    the report's description if they accept the offer to register."""
    replies, dispute_type, miss = answer_replies(turn)
    if miss:
        return Step(state.idle(), replies, (miss,))
    slots = {"dispute_type": dispute_type, "description": description}
    return Step(state.goto(FLOW, "offer", slots), replies)


async def on_message(turn: Turn, state: ConversationState) -> Step | None:
    if state.step == "ask":
        # A photo or a place is not a question: the router answers it as such.
        return answer(turn, state) if turn.text else None
    if state.step == "offer":
        if parsing.is_yes(turn.text):
            return await report.start(
                turn,
                state.idle(),
                dispute_type=state.slots.get("dispute_type"),
                describe=False,
                description=state.slots.get("description"),
            )
        if parsing.is_no(turn.text):
            return Step(state.idle(), (turn.say("faq.declined"),))
    return None  # something else: the router treats it as a new request
