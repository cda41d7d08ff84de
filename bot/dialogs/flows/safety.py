"""Possible danger (risk tier ``check``): ask the resident, kindly, whether they are safe.

message with risk "check"
    → "您现在安全吗？" with 110 / 120 / 12356; the flow in progress is set aside (resumable);
      a lower-priority escalation is queued to reach the on-duty staff in a few minutes
"安全 / 没事 / 我很好"            → thanks, the queued escalation is withdrawn, the report resumes
                                   (or starts from the dispute told with the worrying words)
"不安全 / 救命 / 他还在" or any
 danger-sounding reply           → the alarm path now (emergency numbers, top priority)
anything else                    → the question once more; after that the message is handled
                                   as usual (a report set aside resumes with it) and the queued
                                   escalation still reaches staff
no answer                        → the queued escalation reaches staff when it falls due
"""

from __future__ import annotations

import re
from dataclasses import replace

from bot.dialogs import parsing
from bot.dialogs.flows import report, urgent
from bot.dialogs.registry import FlowSpec
from bot.dialogs.state import ConversationState
from bot.dialogs.turn import Step, Turn
from bot.dialogs.work import SafetyCheck, SafetyCheckResolved
from bot.nlu.classifier import Risk
from bot.nlu.labels import Intent

FLOW = "safety"
ASKED = "asked"

_SAFE = re.compile(
    r"^(我|我们|现在|目前|暂时|已经|都)*(很|挺|还|比较)?"
    r"(安全|没事|没事了|没有事|没危险|没有危险|还好|挺好|很好|好的|平安|ok|放心)"
    r"|^(是的?|嗯+|对)[,，。 ]*(安全|没事)|^安全$|不用担心|没有危险|已经(离开|走了|安全)"
)
_UNSAFE = re.compile(
    r"不安全|不太安全|不是很安全|危险|救我|救命|帮帮我|快来|他还在|他们还在|在外面砸|在砸门|害怕|好怕|不敢|跑不了|出不去"
)


def ask(turn: Turn, state: ConversationState) -> Step:
    """The caring question, with the flow in progress set aside and a late escalation queued."""
    resumable = state.flow == report.FLOW
    base = state.pause() if resumable else state.idle()
    check = SafetyCheck(channel=turn.inbound.channel, user_id=turn.inbound.user_id, text=turn.text)
    slots: dict[str, object] = {"resumable": resumable, "asked": 1}
    if not resumable and turn.nlu.intent is Intent.REPORT_DISPUTE and turn.nlu.dispute_type:
        # The dispute told with the worrying words is not lost: once safe, the report starts from it.
        slots.update(story=turn.text, story_type=turn.nlu.dispute_type)
    return Step(base.goto(FLOW, ASKED, slots), (turn.say("safety.ask"),), (check,))


def resolved(turn: Turn) -> SafetyCheckResolved:
    return SafetyCheckResolved(channel=turn.inbound.channel, user_id=turn.inbound.user_id)


async def on_message(turn: Turn, state: ConversationState) -> Step | None:
    nlu = turn.nlu
    text = turn.text.strip().lower()
    unsafe = _UNSAFE.search(text) or parsing.is_no(text) or nlu.intent is Intent.DENY
    safe = not unsafe and (_SAFE.search(text) or parsing.is_yes(text) or nlu.intent is Intent.AFFIRM)
    # A clear alarm never gets here (the router takes it first). An explicit "safe" outweighs the
    # danger model's reading of "我现在安全" (it sees 现在); any other danger-sounding reply alarms.
    if unsafe or (not safe and nlu.risk is not Risk.NONE):
        alarm = urgent.interrupt(turn, state.idle(), categories=("safety_check",))
        return replace(alarm, work=(resolved(turn), *alarm.work))
    if safe:
        settled = state.idle()
        if state.slots.get("resumable") and settled.paused is not None:
            resumed = settled.resume()
            again = await report.reprompt(turn, resumed)
            return Step(again.state, (turn.say("safety.glad_resume"), *again.replies), (resolved(turn),))
        if state.slots.get("story_type"):
            story = await report.start(
                turn,
                settled,
                dispute_type=str(state.slots["story_type"]),
                describe=False,
                description=str(state.slots.get("story", "")),
            )
            return Step(story.state, (turn.say("safety.glad_report"), *story.replies), (resolved(turn),))
        return Step(settled, (turn.say("safety.glad"),), (resolved(turn),))
    if int(state.slots.get("asked", 1)) < 2:
        return Step(state.with_slots(asked=2), (turn.say("safety.ask_again"),))
    settled = state.idle()
    if state.slots.get("resumable") and settled.paused is not None:
        # Asked twice and the resident goes on with the report: it resumes with this message
        # (the queued request to staff still reaches them).
        return await report.on_message(turn, settled.resume())
    return None  # handled as any other message; the queued escalation still reaches staff


#: Entered by the router on the danger tier ``check``, never by a command or an intent.
SPEC = FlowSpec(FLOW, on_message=on_message)
