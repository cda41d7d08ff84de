"""Human handoff: record the request for staff, tell the resident when staff are on duty and
the hotline, and keep the conversation as it is."""

from __future__ import annotations

from bot.dialogs.state import ConversationState
from bot.dialogs.turn import Step, Turn
from bot.dialogs.work import Handoff


def request(turn: Turn, state: ConversationState) -> Step:
    work = Handoff(channel=turn.inbound.channel, user_id=turn.inbound.user_id, text=turn.text)
    return Step(state, (turn.say("handoff.requested"),), (work,))
