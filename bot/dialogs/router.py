"""Which flow a message goes to. Read top to bottom: the first rule that applies wins.

1. An unfinished conversation idle for 30 minutes expires; a report is set aside to resume.
2. Nothing to read (no text, image or location): ask again.
3. Urgent risk (tier ``alarm``) interrupts anything; possible danger (tier ``check``) asks
   whether the resident is safe, unless that question is already pending (then the safety flow
   reads the answer).
4. Exact commands (帮助/菜单, 取消, 重新开始, 继续, 转人工, 查进度…) work at any point.
5. The active flow gets the message (it may decline it: then it is a new request).
6. A number answers the menu.
7. The NLU's intent picks a flow; without the NLU the numbered menu is shown.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from bot.dialogs import parsing
from bot.dialogs.flows import general, handoff, legal, progress, report, safety, urgent
from bot.dialogs.parsing import Command
from bot.dialogs.ports import HandoffView
from bot.dialogs.state import ConversationState
from bot.dialogs.turn import Step, Turn
from bot.dialogs.work import HandoffClose, HandoffRelay, Work
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


_FLOWS = {
    safety.FLOW: safety.on_message,
    report.FLOW: report.on_message,
    progress.FLOW: progress.on_message,
    legal.FLOW: legal.on_message,
}


def _relay(turn: Turn, state: ConversationState, handoff: HandoffView) -> Step:
    """Staff have the conversation: the bot passes the message on and stays quiet — except that
    imminent danger still gets the emergency numbers at once."""
    text = turn.text or ("[图片]" if turn.inbound.attachments else "[位置]" if turn.inbound.location else "")
    relay = HandoffRelay(handoff.id, text)
    if turn.nlu.urgent:
        alarm = urgent.interrupt(turn, state)
        return replace(alarm, work=(*alarm.work, relay))
    return Step(replace(state, last_active=turn.now), (), (relay,))


class Router:
    def __init__(self, administrative: general.AdministrativeMatters) -> None:
        self._administrative = administrative

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
        if turn.nlu.risk is Risk.CHECK and state.flow != safety.FLOW:
            # A question the FAQs answer confidently gets its answer, then the caring question.
            asked = turn.nlu.intent is Intent.ASK_LEGAL or state.flow == legal.FLOW
            answer = (
                legal.answer_replies(turn, brief=True)[0] if asked and legal.confident_answer(turn) else ()
            )
            return safety.ask(turn, state).before(*answer)

        command = parsing.parse_command(turn.text)
        if command is not None:
            return await self._command(command, turn, state)

        if state.flow in _FLOWS:
            handled = await _FLOWS[state.flow](turn, state)
            if handled is not None:
                return handled
            state = state.idle()

        if state.flow == general.FLOW:
            choice = parsing.parse_number(turn.text, general.MENU_SIZE)
            if choice is not None:
                return await self._menu_choice(choice, turn, state)
            state = state.idle()

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
            case Command.HANDOFF:
                step = handoff.request(turn, state)
                if state.flow == report.FLOW:  # the report goes on: ask its question again
                    step = step.then(*(await report.reprompt(turn, state)).replies)
                return step
            case Command.PROGRESS:
                return await progress.start(turn, state.idle())
            case Command.REPORT:
                if state.flow == report.FLOW:  # already reporting: never throw the answers away
                    return (await report.reprompt(turn, state)).before(turn.say("report.already_reporting"))
                return await report.start(turn, state.idle(), describe=False)
            case Command.LEGAL:
                return legal.ask_question(turn, state.idle())

    async def _menu_choice(self, choice: int, turn: Turn, state: ConversationState) -> Step:
        command = {1: Command.REPORT, 2: Command.PROGRESS, 3: Command.LEGAL, 4: Command.HANDOFF}[choice]
        return await self._command(command, turn, state.idle())

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
            asks = nlu.intent is not Intent.REPORT_DISPUTE or report.asks_what_to_do(turn.text)
            if asks and legal.confident_answer(turn) is not None:
                return legal.answer(turn, state, description=turn.text)
        match nlu.intent:
            case Intent.REPORT_DISPUTE:
                return await report.start(turn, state)
            case Intent.ASK_LEGAL:
                return legal.answer(turn, state)
            case Intent.CHECK_PROGRESS:
                return await progress.start(turn, state)
            case Intent.HUMAN_HANDOFF:
                return handoff.request(turn, state)
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
            case Intent.URGENT_RISK | Intent.AFFIRM | Intent.DENY:
                return general.not_understood(turn, state)
