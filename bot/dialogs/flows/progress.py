"""Check progress: list the resident's own cases with their step in plain words, or look one
up by reference number plus the last four digits of the contact phone. A case is never shown
to anyone else: listing is by the channel's user id, look-up needs the phone digits, and
repeated failed look-ups stop.

```mermaid
stateDiagram-v2
    [*] --> list: check_progress / 查进度 (has cases here)
    [*] --> lookup: no cases here
    list --> detail: one of my references
    lookup --> detail: reference + phone's last 4 match
    lookup --> lookup: no match (attempts counted; 5 → stop)
    detail --> [*]
```
"""

from __future__ import annotations

from dataclasses import replace

from bot.dialogs import parsing
from bot.dialogs.messages import Outbound
from bot.dialogs.ports import CaseView
from bot.dialogs.registry import FlowSpec
from bot.dialogs.state import ConversationState, LookupGuard
from bot.dialogs.turn import Step, Turn
from bot.nlu.labels import Intent

FLOW = "progress"


def _step_name(turn: Turn, case: CaseView) -> str:
    if case.step is None:
        return turn.svc.replies.text("progress.pending")
    return turn.svc.steps.get(case.step).name


def _say_detail(turn: Turn, case: CaseView) -> Outbound:
    type_name = turn.svc.catalog.get(case.dispute_type).name
    meaning = following = ""
    if case.step is not None:
        step = turn.svc.steps.get(case.step)
        meaning, following = step.meaning, step.next
    values = {"reference": case.reference, "type_name": type_name, "step": _step_name(turn, case)}
    return turn.say("progress.detail", meaning=meaning, next=following, **values)


async def start(turn: Turn, state: ConversationState) -> Step:
    looked_up = await _try_lookup(turn, state)
    if looked_up:
        return looked_up
    mine = await turn.desk.cases_of(turn.inbound.channel, turn.inbound.user_id)
    if not mine:
        return Step(state.goto(FLOW, "lookup"), (turn.say("progress.ask_lookup"),))
    items = "\n".join(
        turn.svc.replies.text(
            "progress.item",
            reference=c.reference,
            type_name=turn.svc.catalog.get(c.dispute_type).name,
            step=_step_name(turn, c),
        )
        for c in mine
    )
    return Step(state.goto(FLOW, "list"), (turn.say("progress.list", items=items),))


async def _try_lookup(turn: Turn, state: ConversationState) -> Step | None:
    """A message with a reference: my own case, or reference + phone digits for any case."""
    references = parsing.find_references(turn.text)
    if not references:
        return None
    if state.lookups.blocked(turn.now):
        return Step(state.idle(), (turn.say("progress.too_many_attempts"),))
    case = await turn.desk.find_case(references[0])
    mine = case is not None and (case.channel, case.user_id) == (turn.inbound.channel, turn.inbound.user_id)
    if case is not None and mine:
        return Step(state.idle(), (_say_detail(turn, case),))
    lookup = parsing.parse_lookup(turn.text)
    if lookup is None:
        return Step(state.goto(FLOW, "lookup"), (turn.say("progress.lookup_format"),))
    if case is not None and case.phone_last4 == lookup[1]:
        return Step(replace(state.idle(), lookups=LookupGuard()), (_say_detail(turn, case),))
    failed = replace(state.goto(FLOW, "lookup"), lookups=state.lookups.failed(turn.now))
    return Step(failed, (turn.say("progress.not_found"),))


async def on_message(turn: Turn, state: ConversationState) -> Step | None:
    return await _try_lookup(turn, state)


async def _by_command(turn: Turn, state: ConversationState) -> Step:
    return await start(turn, state.idle())


SPEC = FlowSpec(
    FLOW,
    on_message=on_message,
    on_command=_by_command,
    on_intent=start,
    commands=("查进度", "查询进度", "进度", "查询案件进度"),
    intents=(Intent.CHECK_PROGRESS,),
    menu=2,
)
