"""Report a dispute: confirm its type, collect the details one question at a time, ask for
consent after the personal-information notice, show a summary that can be corrected ("改2"),
and on confirmation record the case to be filed.

```mermaid
stateDiagram-v2
    [*] --> confirm_type: report_dispute (type suggested)
    [*] --> pick_type: no type known
    confirm_type --> pick_type: 不是
    confirm_type --> description: 是
    pick_type --> description
    description --> place
    place --> occurred
    occurred --> other_party
    other_party --> name
    name --> phone
    name --> known_phone: a number was given earlier
    known_phone --> phone: 换一个
    known_phone --> consent: 是
    phone --> consent
    consent --> summary: 同意
    consent --> [*]: 不同意 (everything collected is dropped)
    summary --> description: 改2 (…and back to summary)
    summary --> [*]: 确认 → case recorded, receipt with reference
```
Steps whose slot is already filled are skipped: a first message that already describes the
dispute is the description; a shared location is the place.
"""

from __future__ import annotations

import re
from typing import Any

from bot.dialogs import parsing
from bot.dialogs.messages import Outbound
from bot.dialogs.state import ConversationState
from bot.dialogs.turn import Step, Turn
from bot.dialogs.work import CaseReport
from bot.nlu.labels import Intent
from bot.privacy import mask_personal_data

FLOW = "report"

#: The fields in the order they are asked and numbered in the summary ("改2" = description).
FIELDS = ("dispute_type", "description", "place", "occurred", "other_party", "name", "phone")
#: The question that collects each field.
PROMPTS = {
    "dispute_type": "report.pick_type",
    "description": "report.ask_description",
    "place": "report.ask_place",
    "occurred": "report.ask_time",
    "other_party": "report.ask_other_party",
    "name": "report.ask_name",
    "phone": "report.ask_phone",
}
MIN_DESCRIPTION = 8  # characters: "欠薪" is a topic, not a description
MAX_FIELD = 500
MAX_NAME = 20

_SKIP = re.compile(r"^(跳过|没有|不知道|不清楚|不方便|不想说|不说|无|略|pass|skip)[!。.]*$", re.IGNORECASE)
_UNKNOWN = re.compile(r"^(不清楚|不记得|记不清|忘了|不知道|说不清)[了!。.]*$")
_ANONYMOUS = re.compile(r"^(匿名|不留名|不想留名|不方便|不想说|保密|不留)[!。.]*$")
# A question asked in the middle of the form (a digression), not an answer to it.
_QUESTION = re.compile(r"[?？]|吗$|吗[,，。 ]|怎么|如何|能不能|可不可以|是否|有没有|多久|哪里可以|违法")


def _type_list(turn: Turn) -> str:
    return "\n".join(f"{n}. {t.name}" for n, t in enumerate(turn.svc.catalog.types, start=1))


def _next_missing(slots: dict[str, Any]) -> str:
    for name in FIELDS:
        if name not in slots:
            return name
    return "consent" if not slots.get("consent") else "summary"


def _prompt(turn: Turn, state: ConversationState, field: str) -> Step:
    """Move to ``field`` and ask its question."""
    if field == "dispute_type":
        return Step(state.at("pick_type"), (turn.say("report.pick_type", type_list=_type_list(turn)),))
    if field == "phone" and state.known_phones:
        phone = state.known_phones[-1]
        return Step(
            state.at("known_phone").with_slots(_offered_phone=phone),
            (turn.say("report.offer_known_phone", phone=parsing.mask_phone(phone)),),
        )
    if field == "consent":
        return Step(state.at("consent"), (turn.say("report.consent"),))
    if field == "summary":
        return Step(
            state.at("summary"), (turn.say("report.summary", fields=summary_text(turn, state.slots)),)
        )
    return Step(state.at(field), (turn.say(PROMPTS[field]),))


def _advance(turn: Turn, state: ConversationState, *before: Outbound) -> Step:
    """After a field is filled: the next missing one, or back to the summary when correcting."""
    slots = state.slots
    if slots.get("_fixing"):
        state = state.with_slots(_fixing=False)
        nxt = "summary" if slots.get("consent") else _next_missing(state.slots)
    else:
        nxt = _next_missing(slots)
    return _prompt(turn, state, nxt).before(*before)


def summary_text(turn: Turn, slots: dict[str, Any]) -> str:
    """The numbered summary; phone numbers anywhere in it are masked (it is shown on screens)."""
    replies = turn.svc.replies
    values = {
        "dispute_type": turn.svc.catalog.get(slots["dispute_type"]).name if slots.get("dispute_type") else "",
        "description": slots.get("description") or "",
        "place": slots.get("place") or "",
        "occurred": slots.get("occurred") or replies.unknown,
        "other_party": slots.get("other_party") or replies.unknown,
        "name": slots.get("name") or replies.anonymous,
        "phone": parsing.mask_phone(slots["phone"]) if slots.get("phone") else "",
    }
    lines = []
    for number, name in enumerate(FIELDS, start=1):
        value = mask_personal_data(values[name])
        if len(value) > 60:
            value = value[:60] + "…"
        lines.append(f"{number}. {replies.labels[name]}：{value}")
    return "\n".join(lines)


async def start(
    turn: Turn,
    state: ConversationState,
    *,
    dispute_type: str | None = None,
    describe: bool = True,
    description: str | None = None,
) -> Step:
    """Begin a report. ``describe``: the triggering message may itself be the description;
    ``description``: one given earlier (a question answered from the FAQs first)."""
    slots: dict[str, Any] = {}
    if description and len(description) >= MIN_DESCRIPTION:
        slots["description"] = description[:MAX_FIELD]
    elif describe and turn.nlu.intent is Intent.REPORT_DISPUTE and len(turn.text) >= MIN_DESCRIPTION:
        slots["description"] = turn.text[:MAX_FIELD]
    if turn.inbound.location is not None:
        slots.update(_place_from_location(turn))
    if turn.inbound.attachments:
        slots["attachments"] = [a.ref for a in turn.inbound.attachments]
    state = state.goto(FLOW, "confirm_type", slots)
    # A command ("登记纠纷") says nothing about the type: only a described dispute suggests one.
    suggested = dispute_type or (turn.nlu.dispute_type if describe else None)
    if suggested and suggested in turn.svc.catalog:
        kind = turn.svc.catalog.get(suggested)
        return Step(
            state.with_slots(_suggested=suggested),
            (turn.say("report.confirm_type", type_name=kind.name, type_description=kind.description),),
        )
    return _prompt(turn, state, "dispute_type").before(turn.say("report.start"))


def _place_from_location(turn: Turn) -> dict[str, Any]:
    location = turn.inbound.location
    if location is None:
        return {}
    return {"place": location.describe(), "location": [location.latitude, location.longitude]}


def _pick_type(turn: Turn) -> str | None:
    catalog = turn.svc.catalog
    number = parsing.parse_number(turn.text, len(catalog.types))
    if number:
        return catalog.types[number - 1].code
    for kind in catalog.types:
        if turn.text.strip() in (kind.name, kind.name.removesuffix("纠纷"), kind.code):
            return kind.code
    return None


_ACT = re.compile(r"帮我|帮忙|帮帮|调解|处理|登记|投诉|反映|管管|解决|求助|上门|来看")


def asks_what_to_do(text: str) -> bool:
    """A question about one's own problem ("拖欠工资怎么办？") that does not ask anyone to act."""
    return bool(_QUESTION.search(text)) and not _ACT.search(text)


def _is_digression(turn: Turn) -> bool:
    return turn.nlu.intent is Intent.ASK_LEGAL and bool(_QUESTION.search(turn.text))


async def on_message(turn: Turn, state: ConversationState) -> Step | None:
    step = state.step
    text = turn.text.strip()

    if turn.inbound.attachments:
        refs = [*state.slots.get("attachments", []), *(a.ref for a in turn.inbound.attachments)]
        state = state.with_slots(attachments=refs)
        if not text and turn.inbound.location is None:
            return Step(state, (turn.say("report.attachment_saved"),))

    if step in ("place", "occurred", "other_party", "name") and _is_digression(turn):
        from bot.dialogs.flows import legal  # the FAQ flow also starts reports: import here

        replies, _, miss = legal.answer_replies(turn, brief=True)
        again = _prompt(turn, state, step)
        return Step(
            again.state, (*replies, turn.say("faq.back_to_report"), *again.replies), (miss,) if miss else ()
        )

    if step == "confirm_type":
        picked = _pick_type(turn)
        if picked or parsing.is_yes(text):
            return _advance(turn, state.with_slots(dispute_type=picked or state.slots["_suggested"]))
        if parsing.is_no(text):
            return _prompt(turn, state, "dispute_type")
        kind = turn.svc.catalog.get(state.slots["_suggested"])
        return Step(
            state, (turn.say("report.confirm_type", type_name=kind.name, type_description=kind.description),)
        )

    if step == "pick_type":
        picked = _pick_type(turn)
        if picked is None:
            return Step(state, (turn.say("report.pick_type_invalid", count=len(turn.svc.catalog.types)),))
        return _advance(turn, state.with_slots(dispute_type=picked))

    if step == "description":
        if len(text) < MIN_DESCRIPTION:
            return Step(state, (turn.say("report.description_too_short"),))
        return _advance(turn, state.with_slots(description=text[:MAX_FIELD]))

    if step == "place":
        if turn.inbound.location is not None:
            return _advance(turn, state.with_slots(**_place_from_location(turn)))
        if len(text) < 2:
            return Step(state, (turn.say("report.place_invalid"),))
        return _advance(turn, state.with_slots(place=text[:MAX_FIELD]))

    if step == "occurred":
        if not text:
            return _prompt(turn, state, "occurred")
        return _advance(turn, state.with_slots(occurred=None if _UNKNOWN.match(text) else text[:100]))

    if step == "other_party":
        if not text:
            return _prompt(turn, state, "other_party")
        return _advance(turn, state.with_slots(other_party=None if _SKIP.match(text) else text[:100]))

    if step == "name":
        if _ANONYMOUS.match(text):
            return _advance(turn, state.with_slots(name=None))
        if not text or len(text) > MAX_NAME:
            return Step(state, (turn.say("report.name_invalid"),))
        return _advance(turn, state.with_slots(name=text))

    if step == "known_phone":
        typed = parsing.parse_phone(text)
        if typed:
            return _advance(turn, state.with_slots(phone=typed))
        if parsing.is_yes(text):
            return _advance(turn, state.with_slots(phone=state.slots["_offered_phone"]))
        return Step(state.at("phone"), (turn.say("report.ask_phone"),))

    if step == "phone":
        phone = parsing.parse_phone(text)
        if phone is None:
            return Step(state, (turn.say("report.phone_invalid"),))
        return _advance(turn, state.with_slots(phone=phone))

    if step == "consent":
        if parsing.is_yes(text):
            return _advance(turn, state.with_slots(consent=turn.now.isoformat()))
        if parsing.is_no(text):
            return Step(state.idle(), (turn.say("report.consent_declined"),))
        return Step(state, (turn.say("report.consent_unclear"),))

    if step == "summary":
        fix = parsing.parse_fix(text)
        if fix is not None and 1 <= fix <= len(FIELDS):
            field = FIELDS[fix - 1]
            slots = {k: v for k, v in state.slots.items() if k != field}
            fixing = state.goto(FLOW, "summary", {**slots, "_fixing": True})
            if field == "phone":  # correcting the phone: ask for a new one, don't offer the old
                return Step(fixing.at("phone"), (turn.say("report.ask_phone"),))
            return _prompt(turn, fixing, field)
        if parsing.is_yes(text) or text in ("确认", "提交", "确认提交"):
            return await _file(turn, state)
        return Step(state, (turn.say("report.fix_which"),))

    return None


async def _file(turn: Turn, state: ConversationState) -> Step:
    slots = state.slots
    reference = await turn.desk.allocate_reference()
    location = slots.get("location")
    report = CaseReport(
        reference=reference,
        channel=turn.inbound.channel,
        user_id=turn.inbound.user_id,
        dispute_type=slots["dispute_type"],
        description=slots["description"],
        place=slots["place"],
        occurred=slots.get("occurred") or turn.svc.replies.unknown,
        other_party=slots.get("other_party"),
        name=slots.get("name"),
        phone=slots["phone"],
        attachments=tuple(slots.get("attachments", ())),
        location=(float(location[0]), float(location[1])) if location else None,
    )
    return Step(state.idle(), (turn.say("report.receipt", reference=reference),), (report,))


async def reprompt(turn: Turn, state: ConversationState) -> Step:
    """Ask the current question of a resumed report again."""
    step = state.step or "description"
    if step in ("confirm_type",):
        kind = turn.svc.catalog.get(state.slots["_suggested"])
        return Step(
            state, (turn.say("report.confirm_type", type_name=kind.name, type_description=kind.description),)
        )
    if step == "pick_type":
        return _prompt(turn, state, "dispute_type")
    if step in ("known_phone", "consent", "summary"):
        return _prompt(turn, state, "phone" if step == "known_phone" else step)
    return _prompt(turn, state, step)
