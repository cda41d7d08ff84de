"""The form engine: a flow that collects details is declared as data (a ``Form`` of ``Slot``s),
and this module steps it, one message at a time, the same way for every form.

On each message, in order:
1. a repair move (``bot/dialogs/moves.py``) is handled and never stored as an answer:
   a correction, a change of mind, "I only want to ask", declining an optional detail,
   a side question, "上一步", asking for a person;
2. otherwise the message answers the pending question (the slot's ``read`` validates it);
3. every other missing slot the message also answers is filled (``extract``), whichever
   question was pending;
4. the next missing slot is asked — with a value to confirm in one line when one is known
   (the NLU's dispute type, a phone number written earlier) — then consent, then the summary.

State: ``ConversationState.step`` is the pending slot (or ``consent`` / ``summary``), ``slots``
holds the values, ``form`` (``FormProgress``) the value offered and the questions asked.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from bot.dialogs import parsing
from bot.dialogs.answers import answer_replies
from bot.dialogs.messages import Outbound
from bot.dialogs.moves import Move, MoveKind, read_move
from bot.dialogs.state import ConversationState
from bot.dialogs.turn import Step, Turn
from bot.dialogs.work import ForgetMessages
from bot.privacy import mask_personal_data

CONSENT = "consent"
SUMMARY = "summary"
MAX_SUMMARY_VALUE = 60


@dataclass(frozen=True, slots=True)
class Filled:
    """A valid answer: the slot's value (None: the resident left an optional detail empty) and
    any extra values that come with it (a shared location's coordinates)."""

    value: Any
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Invalid:
    """Not a valid answer: the reply that says why (a key of knowledge/replies.yml)."""

    reply: str
    values: dict[str, Any] = field(default_factory=dict)


Reading = Filled | Invalid
Reader = Callable[[Turn, str], Reading]
Prompter = Callable[[Turn], dict[str, Any]]


@dataclass(frozen=True, slots=True)
class Slot:
    name: str
    #: The question (a reply key) and the values it needs.
    ask: str
    read: Reader
    #: Picks the value out of any message (place, time, …); None: only asked.
    extract: Callable[[str], str | None] | None = None
    required: bool = True
    ask_values: Prompter | None = None
    #: A value worth proposing instead of asking ("您之前提到过号码…，用这个号码吗？").
    offer: Callable[[ConversationState], str | None] | None = None
    offer_key: str | None = None
    offer_values: Callable[[Turn, str], dict[str, Any]] | None = None
    #: After declining this optional detail (e.g. the phone: staff can only answer in the chat).
    declined_key: str | None = None
    #: The value as the summary shows it.
    show: Callable[[Turn, Any], str] = lambda _turn, value: "" if value is None else str(value)
    #: False: never asked, only taken from what the resident says (shown, and correctable).
    asked: bool = True


@dataclass(frozen=True, slots=True)
class Form:
    flow: str
    slots: tuple[Slot, ...]
    consent_key: str
    summary_key: str
    #: Called on "确认" at the summary: records the work and says goodbye to the form.
    submit: Callable[[Turn, ConversationState], Awaitable[Step]]
    #: The answers to the moves that lead out of the form (``answer_aside`` answers a side
    #: question from the FAQs and asks the pending question again).
    side_question: Callable[[Form, Turn, ConversationState], Step]
    only_ask: Callable[[Form, Turn, ConversationState], Step]
    handoff: Callable[[Form, Turn, ConversationState], Step]
    #: Extra keys this form keeps in ``slots`` besides the slots' values (attachments, location).
    extras: tuple[str, ...] = ()

    def slot(self, name: str) -> Slot | None:
        return next((s for s in self.slots if s.name == name), None)

    def next_missing(self, state: ConversationState) -> str:
        for slot in self.slots:
            if slot.asked and slot.name not in state.slots:
                return slot.name
        return CONSENT if not state.slots.get(CONSENT) else SUMMARY


# --- asking ------------------------------------------------------------------------------------


def ask(form: Form, turn: Turn, state: ConversationState, name: str) -> Step:
    """Move to ``name`` and ask its question (or propose a known value for it)."""
    asked = state.form.asked if name in state.form.asked else (*state.form.asked, name)
    state = state.at(name).with_form(offered=None, asked=asked)
    if name == CONSENT:
        return Step(state, (turn.say(form.consent_key),))
    if name == SUMMARY:
        return Step(state, (turn.say(form.summary_key, fields=summary_text(form, turn, state.slots)),))
    slot = form.slot(name)
    if slot is None:
        raise LookupError(f"the form {form.flow} has no slot {name}")
    offered = state.form.hints.get(name) or (slot.offer(state) if slot.offer else None)
    if offered is not None and slot.offer_key:
        values = slot.offer_values(turn, offered) if slot.offer_values else {}
        hints = {k: v for k, v in state.form.hints.items() if k != name}
        return Step(state.with_form(offered=offered, hints=hints), (turn.say(slot.offer_key, **values),))
    values = slot.ask_values(turn) if slot.ask_values else {}
    return Step(state, (turn.say(slot.ask, **values),))


def ask_next(form: Form, turn: Turn, state: ConversationState, *before: Outbound) -> Step:
    return ask(form, turn, state, form.next_missing(state)).before(*before)


def reprompt(form: Form, turn: Turn, state: ConversationState) -> Step:
    """Ask the pending question again (a resumed form, after a side question)."""
    step = state.step or form.next_missing(state)
    if state.form.offered is not None and (slot := form.slot(step)) and slot.offer_key:
        values = slot.offer_values(turn, state.form.offered) if slot.offer_values else {}
        return Step(state, (turn.say(slot.offer_key, **values),))
    return ask(form, turn, state, step)


def answer_aside(form: Form, turn: Turn, state: ConversationState) -> Step:
    """A side question: answered in brief from the FAQs, then the pending question again (the
    form is not left)."""
    replies, _, miss, *_ = answer_replies(turn, brief=True)
    again = reprompt(form, turn, state)
    return Step(
        again.state, (*replies, turn.say("faq.back_to_report"), *again.replies), (miss,) if miss else ()
    )


def summary_text(form: Form, turn: Turn, slots: dict[str, Any]) -> str:
    """The numbered summary; personal data in free text is masked (it is shown on screens)."""
    labels = turn.svc.replies.labels
    lines = []
    for number, slot in enumerate(form.slots, start=1):
        value = mask_personal_data(slot.show(turn, slots.get(slot.name)))
        if len(value) > MAX_SUMMARY_VALUE:
            value = value[:MAX_SUMMARY_VALUE] + "…"
        lines.append(f"{number}. {labels[slot.name]}：{value}")
    return "\n".join(lines)


def prefill(form: Form, state: ConversationState, text: str, *, skip: str | None = None) -> ConversationState:
    """Fill every missing slot the message also answers (never the one just asked)."""
    values: dict[str, Any] = {}
    for slot in form.slots:
        if slot.extract is None or slot.name in state.slots or slot.name == skip:
            continue
        found = slot.extract(text)
        if found:
            values[slot.name] = found
    return state.with_slots(**values) if values else state


# --- one message -------------------------------------------------------------------------------


async def step(form: Form, turn: Turn, state: ConversationState) -> Step | None:
    pending = state.step or form.next_missing(state)
    text = turn.text.strip()
    if not text and turn.inbound.location is None:
        return None
    move_at = "phone_offer" if state.form.offered is not None and pending == "phone" else pending
    move = read_move(text, move_at, turn.nlu.intent, known=state.slots) if text else None
    if move is not None:
        return await _move(form, turn, state, pending, move)
    if pending == CONSENT:
        return _consent(form, turn, state, text)
    if pending == SUMMARY:
        return await _summary(form, turn, state, text)
    slot = form.slot(pending)
    if slot is None:
        return None
    if state.form.offered is not None:
        return _offer_answer(form, turn, state, slot, text)
    return _answer(form, turn, state, slot, text)


def _fill(state: ConversationState, slot: Slot, reading: Filled) -> ConversationState:
    return state.with_slots(**{slot.name: reading.value, **reading.extra}).with_form(offered=None)


def _answer(form: Form, turn: Turn, state: ConversationState, slot: Slot, text: str) -> Step:
    reading = slot.read(turn, text)
    if isinstance(reading, Invalid):
        return Step(state, (turn.say(reading.reply, **reading.values),))
    state = prefill(form, _fill(state, slot, reading), text, skip=slot.name)
    return ask_next(form, turn, state)


def _offer_answer(form: Form, turn: Turn, state: ConversationState, slot: Slot, text: str) -> Step:
    offered = state.form.offered
    reading = slot.read(turn, text)
    if isinstance(reading, Filled) and reading.value is not None and not parsing.is_yes(text):
        return ask_next(form, turn, _fill(state, slot, reading))  # they typed another value
    if parsing.is_yes(text):
        return ask_next(form, turn, _fill(state, slot, Filled(offered)))
    if parsing.is_no(text):
        values = slot.ask_values(turn) if slot.ask_values else {}
        return Step(state.with_form(offered=None), (turn.say(slot.ask, **values),))
    return reprompt(form, turn, state)


def _consent(form: Form, turn: Turn, state: ConversationState, text: str) -> Step:
    if parsing.is_yes(text):
        return ask_next(form, turn, state.with_slots(**{CONSENT: turn.now.isoformat()}))
    if parsing.is_no(text):
        return Step(state.forget_personal(), (turn.say("report.consent_declined"),), (_forget(turn, state),))
    return Step(state, (turn.say("report.consent_unclear"),))


async def _summary(form: Form, turn: Turn, state: ConversationState, text: str) -> Step:
    number = parsing.parse_fix(text)
    if number is not None and 1 <= number <= len(form.slots):
        return _reopen(form, turn, state, form.slots[number - 1].name)
    if parsing.is_yes(text) or text in ("确认", "提交", "确认提交"):
        if not state.slots.get(CONSENT):  # never filed without consent, whatever the route here
            return ask(form, turn, state, CONSENT)
        return await form.submit(turn, state)
    return Step(state, (turn.say("report.fix_which"),))


def _reopen(form: Form, turn: Turn, state: ConversationState, name: str) -> Step:
    """Ask ``name`` again; once answered, the form goes on from where it was (the next missing
    slot is the one that was pending, or the summary)."""
    slots = {k: v for k, v in state.slots.items() if k != name}
    reopened = state.goto(form.flow, name, slots).with_form(asked=state.form.asked)
    slot = form.slot(name)
    if slot is not None and slot.offer_key and slot.offer:  # a correction asks, never re-proposes
        values = slot.ask_values(turn) if slot.ask_values else {}
        return Step(reopened.at(name), (turn.say(slot.ask, **values),))
    return ask(form, turn, reopened, name)


async def _move(form: Form, turn: Turn, state: ConversationState, pending: str, move: Move) -> Step:
    match move.kind:
        case MoveKind.CANCEL:
            return Step(state.forget_personal(), (turn.say("report.cancelled"),), (_forget(turn, state),))
        case MoveKind.ONLY_ASK:
            return form.only_ask(form, turn, state)
        case MoveKind.HANDOFF:
            return form.handoff(form, turn, state)
        case MoveKind.SIDE_QUESTION:
            return form.side_question(form, turn, state)
        case MoveKind.BACK:
            return _back(form, turn, state, pending)
        case MoveKind.DECLINE:
            return _decline(form, turn, state, pending)
        case MoveKind.CORRECTION:
            return _correct(form, turn, state, pending, move)


#: Without a recorded start (a form saved by an older version), this much is erased.
_FORGET_WITHOUT_START = timedelta(hours=24)


def _forget(turn: Turn, state: ConversationState) -> ForgetMessages:
    since = state.form.started or turn.now - _FORGET_WITHOUT_START
    return ForgetMessages(turn.inbound.channel, turn.inbound.user_id, since)


def _back(form: Form, turn: Turn, state: ConversationState, pending: str) -> Step:
    asked = state.form.asked
    earlier = [name for name in asked[: asked.index(pending)] if form.slot(name)] if pending in asked else []
    if not earlier:
        return reprompt(form, turn, state).before(turn.say("form.no_earlier_question"))
    return _reopen(form, turn, state, earlier[-1])


def _decline(form: Form, turn: Turn, state: ConversationState, pending: str) -> Step:
    slot = form.slot(pending)
    if slot is None or slot.required:
        return reprompt(form, turn, state).before(turn.say("form.needed"))
    notice = (turn.say(slot.declined_key),) if slot.declined_key else ()
    return ask_next(form, turn, _fill(state, slot, Filled(None)), *notice)


def _correct(form: Form, turn: Turn, state: ConversationState, pending: str, move: Move) -> Step:
    name = move.slot
    if name is not None and name.startswith("#"):
        number = int(name[1:])
        name = form.slots[number - 1].name if 1 <= number <= len(form.slots) else None
    slot = form.slot(name) if name else None
    if slot is None:
        # "不对" without saying what: the summary so far, and which number to change.
        shown = summary_text(form, turn, state.slots)
        return Step(state, (turn.say("form.which_to_fix", fields=shown),))
    if name == pending and move.value is None:
        return reprompt(form, turn, state)
    value = _corrected_value(state.slots.get(slot.name), move)
    reading = slot.read(turn, value) if value else None
    if not isinstance(reading, Filled) or reading.value is None:
        reopened = _reopen(form, turn, state, slot.name)
        # "改3" is the summary's own way: no need to say what it does.
        return reopened if parsing.parse_fix(turn.text) else reopened.before(turn.say("form.fix_ask"))
    fixed = _fill(state, slot, reading)
    done = turn.say(
        "form.fixed", label=turn.svc.replies.labels[slot.name], value=slot.show(turn, reading.value)
    )
    if name == pending:
        return ask_next(form, turn, fixed, done)
    again = reprompt(form, turn, fixed.with_form(offered=state.form.offered))
    return again.before(done)


def _corrected_value(old: Any, move: Move) -> str | None:
    """The new value; "对方不是602，是702" changes only that part of "楼上602住户"."""
    if move.replaced and move.value and isinstance(old, str) and move.replaced in old:
        rest = old.replace(move.replaced, "", 1).strip()
        if rest and rest in move.value:
            return move.value  # "是阳光花园6栋，不是5栋": the new value is whole already
        return old.replace(move.replaced, move.value, 1)
    return move.value
