"""Urgent risk: whatever is going on, answer at once with the emergency numbers (and the 12356
psychological assistance hotline when self-harm is signalled), record an escalation with top
priority, and set the interrupted flow aside so the resident can resume it ("继续")."""

from __future__ import annotations

from bot.dialogs import answers
from bot.dialogs.flows import report
from bot.dialogs.messages import Outbound
from bot.dialogs.state import ConversationState
from bot.dialogs.turn import Step, Turn
from bot.dialogs.work import Escalation


def alert_key(categories: tuple[str, ...]) -> str:
    if "self_harm" in categories:
        return "urgent.self_harm"
    # The danger model (or a "not safe" answer) cannot tell self-harm from violence: both numbers.
    if not categories or set(categories) <= {"model", "safety_check"}:
        return "urgent.unclear"
    return "urgent.alert"


def interrupt(turn: Turn, state: ConversationState, *, categories: tuple[str, ...] = ()) -> Step:
    categories = tuple(dict.fromkeys((*turn.nlu.urgent_categories, *categories)))
    escalation = Escalation(
        channel=turn.inbound.channel,
        user_id=turn.inbound.user_id,
        text=turn.text,
        categories=categories,
        self_harm="self_harm" in categories,
    )
    alert = turn.say(alert_key(categories))
    replies: tuple[Outbound, ...] = (alert,)
    if answers.asks_what_to_do(turn.text) and answers.confident_answer(turn) is not None:
        # "遭受家暴怎么办？怎么申请保护令？": the alarm first, then the answer they asked for.
        replies += answers.answer_replies(turn, brief=True)[0]
    resumable = state.flow == report.FLOW
    state = state.pause() if resumable else state.idle()
    if state.paused is not None and state.paused.flow == report.FLOW:
        replies += (turn.say("urgent.resume_offer"),)
    return Step(state, replies, (escalation,))
