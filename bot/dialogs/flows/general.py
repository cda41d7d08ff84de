"""Everything that is not a flow of its own: greeting and menu, goodbye and thanks, the kind
redirect of out-of-scope messages (administrative requests go to the 12345 hotline), cancel,
restart and resume, and the numbered menu that keeps the bot usable when the NLU is down."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from bot.dialogs.state import ConversationState
from bot.dialogs.turn import Step, Turn

FLOW = "menu"
MENU_SIZE = 4


def load_administrative_pattern(knowledge_dir: Path) -> re.Pattern[str]:
    raw = yaml.safe_load((knowledge_dir / "routing.yml").read_text(encoding="utf-8"))
    return re.compile("|".join(f"(?:{p})" for p in raw["administrative"]))


def greet(turn: Turn, state: ConversationState) -> Step:
    return Step(state.goto(FLOW, "choose"), (turn.say("greet"), turn.say("menu")))


def menu(turn: Turn, state: ConversationState, *, nlu_down: bool = False) -> Step:
    if state.flow not in (None, FLOW):
        return Step(state, (turn.say("help_in_flow"),))
    return Step(state.goto(FLOW, "choose"), (turn.say("menu_nlu_down" if nlu_down else "menu"),))


def goodbye(turn: Turn, state: ConversationState) -> Step:
    return Step(state.idle(), (turn.say("goodbye"),))


def thanks(turn: Turn, state: ConversationState) -> Step:
    return Step(state, (turn.say("thanks"),))


def out_of_scope(turn: Turn, state: ConversationState, administrative: re.Pattern[str]) -> Step:
    if administrative.search(turn.text):
        return Step(state.idle(), (turn.say("admin_redirect"),))
    return Step(state.idle(), (turn.say("out_of_scope"),))


def not_understood(turn: Turn, state: ConversationState) -> Step:
    return Step(state.goto(FLOW, "choose"), (turn.say("not_understood"), turn.say("menu")))


def cancel(turn: Turn, state: ConversationState) -> Step:
    if state.flow is None and state.paused is None:
        return Step(state, (turn.say("nothing_to_cancel"),))
    return Step(ConversationState(known_phones=state.known_phones), (turn.say("cancelled"),))


def restart(turn: Turn, state: ConversationState) -> Step:
    fresh = ConversationState(known_phones=state.known_phones).goto(FLOW, "choose")
    return Step(fresh, (turn.say("restarted"), turn.say("menu")))
