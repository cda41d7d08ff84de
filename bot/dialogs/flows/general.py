"""Everything that is not a flow of its own: greeting and menu, goodbye and thanks, the kind
redirect of out-of-scope messages (administrative requests go to the 12345 hotline), cancel,
restart and resume, and the numbered menu that keeps the bot usable when the NLU is down."""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

import yaml

from bot.dialogs.state import ConversationState
from bot.dialogs.turn import Step, Turn

FLOW = "menu"
MENU_SIZE = 4


@dataclass(frozen=True, slots=True)
class AdministrativeMatters:
    """Requests for the 12345 hotline (knowledge/routing.yml): administrative words, and no
    other party the resident is in conflict with."""

    words: re.Pattern[str]
    parties: re.Pattern[str]

    @classmethod
    def load(cls, knowledge_dir: Path) -> AdministrativeMatters:
        raw = yaml.safe_load((knowledge_dir / "routing.yml").read_text(encoding="utf-8"))
        return cls(
            re.compile("|".join(f"(?:{p})" for p in raw["administrative"])),
            re.compile("|".join(f"(?:{p})" for p in raw["parties"])),
        )

    def mentioned(self, text: str) -> bool:
        return bool(self.words.search(text))

    def without_a_party(self, text: str) -> bool:
        return self.mentioned(text) and not self.parties.search(text)


def greet(turn: Turn, state: ConversationState) -> Step:
    return Step(state.goto(FLOW, "choose"), (turn.say("greet"), turn.say("menu")))


def menu(turn: Turn, state: ConversationState, *, nlu_down: bool = False) -> Step:
    if state.flow == "report":  # a report in progress is not thrown away by asking for help
        return Step(state, (turn.say("help_in_flow"),))
    return Step(state.goto(FLOW, "choose"), (turn.say("menu_nlu_down" if nlu_down else "menu"),))


def goodbye(turn: Turn, state: ConversationState) -> Step:
    return Step(state.idle(), (turn.say("goodbye"),))


def thanks(turn: Turn, state: ConversationState) -> Step:
    return Step(state, (turn.say("thanks"),))


def out_of_scope(turn: Turn, state: ConversationState, administrative: AdministrativeMatters) -> Step:
    if administrative.mentioned(turn.text):
        return Step(state.idle(), (turn.say("admin_redirect"),))
    return Step(state.idle(), (turn.say("out_of_scope"),))


def clarify(turn: Turn, state: ConversationState) -> Step:
    """A bare number or phone number outside any question: ask what they want, with the menu's
    numbers (the numbered answer then works)."""
    return Step(state.goto(FLOW, "choose"), (turn.say("clarify"),))


def not_understood(turn: Turn, state: ConversationState) -> Step:
    return Step(state.goto(FLOW, "choose"), (turn.say("not_understood"), turn.say("menu")))


def _fresh(state: ConversationState) -> ConversationState:
    """Forget the flow and what it collected; keep what protects the resident (the look-up limit)."""
    return replace(ConversationState(), known_phones=state.known_phones, lookups=state.lookups)


def cancel(turn: Turn, state: ConversationState) -> Step:
    if state.flow is None and state.paused is None:
        return Step(state, (turn.say("nothing_to_cancel"),))
    return Step(_fresh(state), (turn.say("cancelled"),))


def restart(turn: Turn, state: ConversationState) -> Step:
    return Step(_fresh(state).goto(FLOW, "choose"), (turn.say("restarted"), turn.say("menu")))
