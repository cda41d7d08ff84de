"""Urgent risk: whatever is going on, answer at once with the emergency numbers (and the 12356
psychological assistance hotline when self-harm is signalled), record an escalation with top
priority, and set the interrupted flow aside so the resident can resume it ("继续")."""

from __future__ import annotations

from bot.dialogs.state import ConversationState
from bot.dialogs.turn import Step, Turn
from bot.dialogs.work import Escalation


def interrupt(turn: Turn, state: ConversationState) -> Step:
    escalation = Escalation(
        channel=turn.inbound.channel,
        user_id=turn.inbound.user_id,
        text=turn.text,
        categories=turn.nlu.urgent_categories,
        self_harm=turn.nlu.self_harm,
    )
    alert = turn.say("urgent.self_harm" if turn.nlu.self_harm else "urgent.alert")
    resumable = state.flow == "report"
    state = state.pause() if resumable else state.idle()
    replies = (alert, turn.say("urgent.resume_offer")) if resumable else (alert,)
    return Step(state, replies, (escalation,))
