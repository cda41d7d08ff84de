"""Report a dispute: a form (``bot/dialogs/form.py``) that collects the details below, asks for
consent after the personal-information notice, shows a numbered summary that can be corrected,
and on "确认" records the case to be filed.

```mermaid
stateDiagram-v2
    [*] --> dispute_type: report_dispute (the NLU's type proposed: 对吗？) / 登记纠纷 (the list)
    dispute_type --> description
    description --> place
    place --> occurred
    occurred --> other_party
    other_party --> name
    name --> phone: (a number written earlier is proposed: 用这个号码吗？)
    phone --> consent
    consent --> summary: 同意
    consent --> [*]: 不同意 (everything collected is dropped)
    summary --> summary: 改3 / "地址说错了，是6栋" (the detail is changed, the summary again)
    summary --> [*]: 确认 → case recorded, receipt with reference
```
A question whose answer is already known is not asked: the first message that describes the
dispute is the description, and the place, time, other party and name it mentions are taken
from it (shown in the summary); a shared location is the place. At every question the resident
may correct any detail, go back, decline an optional one, ask something on the side, ask only
for advice, or stop (``bot/dialogs/moves.py``).
"""

from __future__ import annotations

import re
from dataclasses import replace
from typing import Any

from bot.dialogs import extract, form, parsing
from bot.dialogs.flows import handoff
from bot.dialogs.form import Filled, Form, Invalid, Reading, Slot
from bot.dialogs.registry import FlowSpec
from bot.dialogs.state import ConversationState
from bot.dialogs.turn import Step, Turn
from bot.dialogs.work import CaseReport
from bot.nlu.labels import Intent

FLOW = "report"
MIN_DESCRIPTION = 8  # characters: "欠薪" is a topic, not a description
MAX_FIELD = 500
MAX_SHORT = 100
MAX_NAME = 20

_UNKNOWN = re.compile(
    r"^(不清楚|不记得|记不清|记不得|忘了|忘记了|不知道|说不清|不太清楚|不好说)[了啊呀!。.]*$"
)
_NOBODY = re.compile(
    r"^(跳过|没有|不知道|不清楚|不认识|不知道是谁|无|略|pass|skip)[了啊!。.]*$", re.IGNORECASE
)
_ANONYMOUS = re.compile(r"^(匿名|不留名|不想留名|不方便|不想说|保密|不留)[!。.]*$")
_NAME_NOISE = re.compile(r"^(我是|我叫|叫我|本人|姓名|名字)[:：]?|(就行|就好|就可以|吧|即可)[!。.]*$")


def empty_answer(pending: str, text: str) -> bool:
    """An answer that leaves an optional detail empty ("匿名", "不清楚", "跳过")."""
    patterns = {"occurred": _UNKNOWN, "other_party": _NOBODY, "name": _ANONYMOUS}
    pattern = patterns.get(pending)
    return bool(pattern and pattern.match(text.strip()))


# --- reading answers ---------------------------------------------------------------------------


def _read_type(turn: Turn, text: str) -> Reading:
    catalog = turn.svc.catalog
    number = parsing.parse_number(text, len(catalog.types))
    if number:
        return Filled(catalog.types[number - 1].code)
    for kind in catalog.types:
        if text.strip() in (kind.name, kind.name.removesuffix("纠纷"), kind.code):
            return Filled(kind.code)
    return Invalid("report.pick_type_invalid", {"count": len(catalog.types)})


def _read_description(_turn: Turn, text: str) -> Reading:
    if len(text.strip()) < MIN_DESCRIPTION:
        return Invalid("report.description_too_short")
    return Filled(text.strip()[:MAX_FIELD])


def _read_place(_turn: Turn, text: str) -> Reading:
    if len(text.strip()) < 2:
        return Invalid("report.place_invalid")
    return Filled(text.strip()[:MAX_FIELD])


def _read_occurred(_turn: Turn, text: str) -> Reading:
    if _UNKNOWN.match(text.strip()):
        return Filled(None)
    return Filled(text.strip()[:MAX_SHORT]) if text.strip() else Invalid("report.ask_time")


def _read_other_party(_turn: Turn, text: str) -> Reading:
    if _NOBODY.match(text.strip()):
        return Filled(None)
    return Filled(text.strip()[:MAX_SHORT]) if text.strip() else Invalid("report.ask_other_party")


def read_name(_turn: Turn, text: str) -> Reading:
    text = text.strip()
    if _ANONYMOUS.match(text):
        return Filled(None)
    if parsing.find_phones(text) or re.search(r"\d{5,}", text):
        return Invalid("report.name_is_number")
    introduced = extract.name(text)
    if not introduced and (extract.occurred(text) == text or extract.place(text) == text):
        return Invalid("report.name_unclear")  # "今年6月", "阳光花园3栋": not what to call them
    value = introduced or _NAME_NOISE.sub("", text).strip("，,。. ")
    if not value or len(value) > MAX_NAME:
        return Invalid("report.name_invalid")
    return Filled(value)


def _read_amount(_turn: Turn, text: str) -> Reading:
    if _NOBODY.match(text.strip()):
        return Filled(None)
    return Filled(extract.amount(text) or text.strip()[:MAX_SHORT])


def read_phone(_turn: Turn, text: str) -> Reading:
    phone = parsing.parse_phone(text)
    return Filled(phone) if phone else Invalid("report.phone_invalid")


def _show_type(turn: Turn, value: Any) -> str:
    return turn.svc.catalog.get(value).name if value else ""


def _show_or(key: str) -> Any:
    def show(turn: Turn, value: Any) -> str:
        return str(value) if value else getattr(turn.svc.replies, key)

    return show


def _show_amount(turn: Turn, value: Any) -> str:
    return str(value) if value else turn.svc.replies.text("report.no_amount_label")


def _show_phone(turn: Turn, value: Any) -> str:
    return parsing.mask_phone(value) if value else turn.svc.replies.text("report.no_phone_label")


def _type_offer(turn: Turn, code: str) -> dict[str, Any]:
    kind = turn.svc.catalog.get(code)
    return {"type_name": kind.name, "type_description": kind.description}


def _type_list(turn: Turn) -> dict[str, Any]:
    return {"type_list": "\n".join(f"{n}. {t.name}" for n, t in enumerate(turn.svc.catalog.types, start=1))}


def phone_offer_values(_turn: Turn, phone: str) -> dict[str, Any]:
    return {"phone": parsing.mask_phone(phone)}


def known_phone(state: ConversationState) -> str | None:
    return state.known_phones[-1] if state.known_phones else None


# --- moves that lead out of the form -----------------------------------------------------------


def only_ask(form_: Form, turn: Turn, state: ConversationState) -> Step:
    """ "我不是要登记，就是想问问": the report is set aside (resumable) and the question answered
    (or asked for); the legal flow offers the report back afterwards."""
    from bot.dialogs.flows import legal

    question = _QUESTION_AFTER_MOVE.sub("", turn.text).strip("，,。.！! ")
    paused = state.pause()  # (any form: "继续" or the legal flow's offer resumes it)
    if len(question) >= 6:
        return legal.answer(turn, paused)
    return legal.ask_question(turn, paused).before(turn.say("report.only_ask"))


_QUESTION_AFTER_MOVE = re.compile(
    r"^.*?(?:不是要登记|不想登记|不用登记|不要登记|不登记|只是想|就是想|只想|只是|就是)(?:问问|问一下|咨询一下|了解一下|咨询|了解)?"
)


def _with_amount(description: str, amount: str | None, turn: Turn) -> str:
    """The case system has no field for the sum: it goes with the description."""
    if not amount or amount in description:
        return description
    return f"{description}（{turn.svc.replies.labels['amount']}：{amount}）"


async def _file(turn: Turn, state: ConversationState) -> Step:
    slots = state.slots
    reference = await turn.desk.allocate_reference()
    location = slots.get("location")
    report = CaseReport(
        reference=reference,
        channel=turn.inbound.channel,
        user_id=turn.inbound.user_id,
        dispute_type=slots["dispute_type"],
        description=_with_amount(slots["description"], slots.get("amount"), turn),
        place=slots["place"],
        occurred=slots.get("occurred") or turn.svc.replies.unknown,
        other_party=slots.get("other_party"),
        name=slots.get("name"),
        phone=slots.get("phone"),
        attachments=tuple(slots.get("attachments", ())),
        location=(float(location[0]), float(location[1])) if location else None,
    )
    key = "report.receipt" if slots.get("phone") else "report.receipt_no_phone"
    return Step(state.idle(), (turn.say(key, reference=reference),), (report,))


REPORT = Form(
    flow=FLOW,
    slots=(
        Slot(
            "dispute_type",
            ask="report.pick_type",
            ask_values=_type_list,
            read=_read_type,
            offer_key="report.confirm_type",
            offer_values=_type_offer,
            show=_show_type,
        ),
        Slot("description", ask="report.ask_description", read=_read_description),
        Slot("place", ask="report.ask_place", read=_read_place, extract=extract.place),
        Slot(
            "occurred",
            ask="report.ask_time",
            read=_read_occurred,
            extract=extract.occurred,
            required=False,
            show=_show_or("unknown"),
        ),
        Slot(
            "other_party",
            ask="report.ask_other_party",
            read=_read_other_party,
            extract=extract.other_party,
            required=False,
            show=_show_or("unknown"),
        ),
        Slot(
            "name",
            ask="report.ask_name",
            read=read_name,
            extract=extract.name,
            required=False,
            show=_show_or("anonymous"),
        ),
        Slot(
            "phone",
            ask="report.ask_phone",
            read=read_phone,
            required=False,
            offer=known_phone,
            offer_key="report.offer_known_phone",
            offer_values=phone_offer_values,
            declined_key="report.no_phone_ok",
            show=_show_phone,
        ),
        # Never asked: the sum the resident mentions ("欠了我三万多"), shown for staff and correctable.
        Slot(
            "amount",
            ask="report.ask_amount",
            read=_read_amount,
            extract=extract.amount,
            required=False,
            show=_show_amount,
            asked=False,
        ),
    ),
    consent_key="report.consent",
    summary_key="report.summary",
    submit=_file,
    side_question=form.answer_aside,
    only_ask=only_ask,
    handoff=handoff.during_form,
    extras=("attachments", "location"),
)


#: An answer this short to a report's question ("去年年底就开始了") is not told as danger: the
#: danger model's middle tier is not asked about it (an alarm still is).
SHORT_ANSWER = 15


def short_answer(turn: Turn, state: ConversationState) -> bool:
    slot = REPORT.slot(state.step or "") if state.flow == FLOW else None
    return slot is not None and slot.name != "description" and len(turn.text.strip()) <= SHORT_ANSWER


# --- the flow's entry points -------------------------------------------------------------------


async def start(
    turn: Turn,
    state: ConversationState,
    *,
    dispute_type: str | None = None,
    describe: bool = True,
    description: str | None = None,
) -> Step:
    """Begin a report. ``describe``: the triggering message may itself be the description (and
    its place, time, other party are taken from it); ``description``: one given earlier (a
    question answered from the FAQs first)."""
    slots: dict[str, Any] = {}
    told = description or (turn.text if describe and turn.nlu.intent is Intent.REPORT_DISPUTE else None)
    if told and len(told) >= MIN_DESCRIPTION:
        slots["description"] = told[:MAX_FIELD]
    if turn.inbound.location is not None:
        location = turn.inbound.location
        slots.update(place=location.describe(), location=[location.latitude, location.longitude])
    if turn.inbound.attachments:
        slots["attachments"] = [a.ref for a in turn.inbound.attachments]
    state = state.goto(FLOW, None, slots).with_form(started=turn.now)
    if "description" in slots:
        state = form.prefill(REPORT, state, slots["description"])
    # A command ("登记纠纷") says nothing about the type: only a described dispute suggests one.
    suggested = dispute_type or (turn.nlu.dispute_type if describe else None)
    if suggested and suggested in turn.svc.catalog:
        state = state.with_form(hints={"dispute_type": suggested})
        return form.ask_next(REPORT, turn, state)
    return form.ask_next(REPORT, turn, state).before(turn.say("report.start"))


async def on_message(turn: Turn, state: ConversationState) -> Step | None:
    if turn.inbound.attachments:
        refs = [*state.slots.get("attachments", []), *(a.ref for a in turn.inbound.attachments)]
        state = state.with_slots(attachments=refs)
        if not turn.text.strip() and turn.inbound.location is None:
            return Step(state, (turn.say("report.attachment_saved"),))
    if parsing.find_references(turn.text):
        # "TJ20261105-0031 到哪一步了": a case already reported; answered, and the report goes on.
        from bot.dialogs.flows import progress

        looked_up = await progress.start(turn, state)
        kept = replace(state, lookups=looked_up.state.lookups)
        return Step(kept, looked_up.replies).then(*form.reprompt(REPORT, turn, kept).replies)
    if turn.inbound.location is not None and not turn.text.strip():
        location = turn.inbound.location
        place = {"place": location.describe(), "location": [location.latitude, location.longitude]}
        if state.step == "place":
            return form.ask_next(REPORT, turn, state.with_slots(**place))
        return Step(state.with_slots(**place), (turn.say("report.location_saved"),)).then(
            *form.reprompt(REPORT, turn, state.with_slots(**place)).replies
        )
    return await form.step(REPORT, turn, state)


async def reprompt(turn: Turn, state: ConversationState) -> Step:
    """Ask the pending question of a resumed report again."""
    return form.reprompt(REPORT, turn, state)


def summary_text(turn: Turn, slots: dict[str, Any]) -> str:
    return form.summary_text(REPORT, turn, slots)


async def _by_command(turn: Turn, state: ConversationState) -> Step:
    if state.flow == FLOW:  # already reporting: never throw the answers away
        return (await reprompt(turn, state)).before(turn.say("report.already_reporting"))
    return await start(turn, state.idle(), describe=False)


async def _by_intent(turn: Turn, state: ConversationState) -> Step:
    return await start(turn, state)


SPEC = FlowSpec(
    FLOW,
    on_message=on_message,
    on_command=_by_command,
    on_intent=_by_intent,
    commands=("登记纠纷", "举报纠纷", "我要登记", "登记"),
    intents=(Intent.REPORT_DISPUTE,),
    menu=1,
)
