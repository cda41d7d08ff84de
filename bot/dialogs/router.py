"""Which flow a message goes to. Read top to bottom: the first rule that applies wins.

1. An unfinished conversation idle for 30 minutes expires; a report is set aside to resume.
2. Nothing to read (no text, image or location): ask again.
3. Urgent risk (tier ``alarm``) interrupts anything; possible danger (tier ``check``) asks
   whether the resident is safe, unless that question is already pending (then the safety flow
   reads the answer).
4. Exact commands (帮助/菜单, 取消, 重新开始, 继续, 转人工, 查进度…) work at any point, and so
   does a request about one's own data in plain words ("把我的资料都删了": ``rights``).
5. The active flow gets the message (it may decline it: then it is a new request).
6. A number answers the menu.
7. The NLU's intent picks a flow; without the NLU the numbered menu is shown.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import timedelta

from bot.dialogs import answers, parsing
from bot.dialogs.flows import REGISTRY, general, legal, my_data, report, safety, urgent
from bot.dialogs.parsing import Command
from bot.dialogs.ports import HandoffView
from bot.dialogs.registry import FlowSpec, Registry
from bot.dialogs.state import ConversationState
from bot.dialogs.turn import Step, Turn
from bot.dialogs.work import HandoffClose, HandoffDanger, HandoffRelay, Work
from bot.nlu.classifier import Risk
from bot.nlu.labels import Intent

IDLE_EXPIRY = timedelta(minutes=30)
#: Intents too weak to outweigh the administrative words of knowledge/routing.yml.
_WEAK_INTENTS = frozenset(
    {Intent.OUT_OF_SCOPE, Intent.GREET, Intent.GOODBYE, Intent.THANKS, Intent.AFFIRM, Intent.DENY}
)


def _weak(intent: Intent, confidence: float, low_confidence: bool) -> bool:
    if intent in _WEAK_INTENTS or low_confidence:
        return True
    return intent in (Intent.REPORT_DISPUTE, Intent.ASK_LEGAL) and confidence < 0.5


def _relay(turn: Turn, state: ConversationState, handoff: HandoffView) -> Step:
    """Staff have the conversation: the bot passes the message on and says nothing itself.
    Danger goes to the same staff member, flagged; the alarm path runs only if nobody there
    answers within a few minutes (``HandoffDanger``)."""
    text = turn.text or ("[图片]" if turn.inbound.attachments else "[位置]" if turn.inbound.location else "")
    quiet = replace(state, last_active=turn.now)
    if not turn.nlu.urgent:  # (a possible danger is the staff member's to ask about)
        return Step(quiet, (), (HandoffRelay(handoff.id, text),))
    categories = turn.nlu.urgent_categories or ("model",)
    flagged = HandoffRelay(handoff.id, text, urgent=True)
    danger = HandoffDanger(
        handoff_id=handoff.id,
        channel=turn.inbound.channel,
        user_id=turn.inbound.user_id,
        text=text,
        categories=categories,
        self_harm="self_harm" in categories,
        alert=urgent.alert_key(categories),
    )
    return Step(quiet, (), (flagged, danger))


class Router:
    def __init__(self, administrative: general.AdministrativeMatters, registry: Registry = REGISTRY) -> None:
        self._administrative = administrative
        self._flows = registry

    async def route(self, turn: Turn, state: ConversationState, handoff: HandoffView | None = None) -> Step:
        notices = []
        work: list[Work] = []
        if handoff is not None and handoff.status == "taken":
            if turn.now - handoff.last_activity_at <= IDLE_EXPIRY:
                return _relay(turn, state, handoff)
            notices.append(turn.say("handoff.ended_idle"))
            work.append(HandoffClose(handoff.id))
        if state.flow and state.last_active and turn.now - state.last_active > IDLE_EXPIRY:
            state = state.pause() if state.flow == report.FLOW else state.idle()
            if state.paused:
                notices.append(turn.say("resume_offer"))
        if turn.nlu.phones or parsing.find_phones(turn.text):
            state = state.remember_phones([*turn.nlu.phones, *parsing.find_phones(turn.text)])
        if turn.nlu.truncated:
            notices.append(turn.say("too_long", limit=len(turn.text)))
        step = await self._decide(turn, state)
        step = replace(step.before(*notices), work=(*work, *step.work))
        return replace(step, state=replace(step.state, last_active=turn.now))

    async def _decide(self, turn: Turn, state: ConversationState) -> Step:
        inbound = turn.inbound
        if not turn.text and not inbound.attachments and inbound.location is None:
            return Step(state, (turn.say("empty"),))
        if turn.nlu.urgent:
            if state.flow == safety.FLOW:  # the safety question is answered by the alarm itself
                alarm = urgent.interrupt(turn, state.idle())
                return replace(alarm, work=(safety.resolved(turn), *alarm.work))
            return urgent.interrupt(turn, state)
        if turn.nlu.risk is Risk.CHECK and state.flow != safety.FLOW and not report.short_answer(turn, state):
            # A question the FAQs answer confidently gets its answer, then the caring question.
            asked = turn.nlu.intent is Intent.ASK_LEGAL or state.flow == legal.FLOW
            answer = (
                answers.answer_replies(turn, brief=True)[0]
                if asked and answers.confident_answer(turn)
                else ()
            )
            return safety.ask(turn, state).before(*answer)

        command = parsing.parse_command(turn.text)
        if command is not None:
            return await self._command(command, turn, state)
        owner = self._flows.by_command(turn.text)
        if owner is not None and owner.on_command is not None:
            return await owner.on_command(turn, state)
        data_request = my_data.recognised(turn)
        if data_request is not None and state.flow != my_data.FLOW:
            return await my_data.start(turn, state, data_request)

        active = self._flows.active(state.flow)
        if active is not None and active.on_message is not None:
            handled = await active.on_message(turn, state)
            if handled is not None:
                return handled
            state = state.idle()

        choice = parsing.parse_number(turn.text, self._flows.menu_size)
        if state.flow == general.FLOW:
            if choice is not None:
                return await self._menu_choice(choice, turn, state)
            state = state.idle()
        if state.flow is None and (choice is not None or _bare_number(turn.text)):
            # A digit or a phone number alone, outside any question: never a goodbye or a guess.
            # With the NLU down the numbered menu is all a resident sees: a number picks from it.
            if turn.nlu.nlu_available:
                return general.clarify(turn, state)
            if choice is not None:
                return await self._menu_choice(choice, turn, state)
            return general.menu(turn, state, nlu_down=True)

        if not turn.text:  # an image or a location outside a report
            key = "image_received" if inbound.attachments else "location_received"
            return Step(state, (turn.say(key),))
        return await self._by_intent(turn, state)

    async def _command(self, command: Command, turn: Turn, state: ConversationState) -> Step:
        match command:
            case Command.HELP:
                return general.menu(turn, state)
            case Command.CANCEL:
                return general.cancel(turn, state)
            case Command.RESTART:
                return general.restart(turn, state)
            case Command.RESUME:
                if state.paused is None:
                    return Step(state, (turn.say("resume_nothing"),))
                resumed = state.resume()
                again = await report.reprompt(turn, resumed)
                return again.before(turn.say("resumed"))

    async def _menu_choice(self, choice: int, turn: Turn, state: ConversationState) -> Step:
        spec = self._flows.by_menu(choice)
        if spec is None or spec.on_command is None:
            raise LookupError(f"no flow owns the menu number {choice}")
        return await spec.on_command(turn, state.idle())

    async def _by_intent(self, turn: Turn, state: ConversationState) -> Step:
        nlu = turn.nlu
        if nlu.intent is None:  # the NLU is down: a numbered menu keeps every flow usable
            return general.menu(turn, state.idle(), nlu_down=True)
        if self._administrative.without_a_party(turn.text) or (
            self._administrative.mentioned(turn.text)
            and _weak(nlu.intent, nlu.confidence, nlu.low_confidence)
        ):
            return general.out_of_scope(turn, state, self._administrative)
        if nlu.intent in (Intent.OUT_OF_SCOPE, Intent.REPORT_DISPUTE) or nlu.low_confidence:
            # A legal question the NLU missed, or "…怎么办？" that asks what the law says before
            # asking anyone to act: answer it, and offer to register (with the text kept).
            asks = nlu.intent is not Intent.REPORT_DISPUTE or answers.asks_what_to_do(turn.text)
            if asks and answers.confident_answer(turn) is not None:
                return legal.answer(turn, state, description=turn.text)
        spec: FlowSpec | None = self._flows.by_intent(nlu.intent)
        if spec is not None:
            start = spec.on_intent or spec.on_command
            if start is None:
                raise LookupError(f"the flow {spec.name} owns an intent but cannot start")
            return await start(turn, state)
        match nlu.intent:
            case Intent.GREET:
                return general.greet(turn, state)
            case Intent.GOODBYE:
                return general.goodbye(turn, state)
            case Intent.THANKS:
                return general.thanks(turn, state)
            case Intent.CANCEL:
                return general.cancel(turn, state)
            case Intent.OUT_OF_SCOPE:
                return general.out_of_scope(turn, state, self._administrative)
            case _:  # urgent_risk without the alarm tier, a bare yes or no
                return general.not_understood(turn, state)


def _bare_number(text: str) -> bool:
    """A message that is only digits or one phone number ("3", "13900001111")."""
    stripped = text.strip()
    if not stripped or re.search(r"[\u4e00-\u9fa5A-Za-z]", stripped):
        return False
    return stripped.isdigit() or parsing.parse_phone(stripped) is not None
