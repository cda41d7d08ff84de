"""Human handoff: record the request for staff, tell the resident when staff are on duty and
the hotline, and keep the conversation as it is (a report in progress asks its question again)."""

from __future__ import annotations

from bot.dialogs import form
from bot.dialogs.form import Form
from bot.dialogs.registry import FlowSpec
from bot.dialogs.state import ConversationState
from bot.dialogs.turn import Step, Turn
from bot.dialogs.work import Handoff
from bot.nlu.labels import Intent

FLOW = "handoff"


def request(turn: Turn, state: ConversationState) -> Step:
    work = Handoff(channel=turn.inbound.channel, user_id=turn.inbound.user_id, text=turn.text)
    return Step(state, (turn.say("handoff.requested"),), (work,))


def during_form(form_: Form, turn: Turn, state: ConversationState) -> Step:
    """Asked for a person in the middle of a form: staff are told, the form's question again."""
    return request(turn, state).then(*form.reprompt(form_, turn, state).replies)


async def _by_command(turn: Turn, state: ConversationState) -> Step:
    step = request(turn, state)
    if state.flow == "report":  # the report goes on: ask its question again
        from bot.dialogs.flows import report

        step = step.then(*(await report.reprompt(turn, state)).replies)
    return step


async def _by_intent(turn: Turn, state: ConversationState) -> Step:
    return request(turn, state)


SPEC = FlowSpec(
    FLOW,
    on_command=_by_command,
    on_intent=_by_intent,
    commands=("转人工", "人工", "人工服务", "人工客服", "找人工"),
    intents=(Intent.HUMAN_HANDOFF,),
    menu=4,
)
