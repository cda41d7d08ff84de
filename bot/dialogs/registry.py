"""What a flow declares so that the router can reach it: the exact commands, the NLU intents and
the menu number it owns, how it starts from each, and how it reads a message while active.
The router builds its tables from ``FLOWS`` (``bot/dialogs/flows/__init__.py``); adding a flow
is writing its module with a ``SPEC`` and listing it there (docs/ARCHITECTURE.md, "Adding a flow").
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass

from bot.dialogs.state import ConversationState
from bot.dialogs.turn import Step, Turn
from bot.nlu.labels import Intent

Starter = Callable[[Turn, ConversationState], Awaitable[Step]]
Reader = Callable[[Turn, ConversationState], Awaitable[Step | None]]


@dataclass(frozen=True, slots=True)
class FlowSpec:
    name: str
    #: Reads a message while this flow is active; returning None declines it (a new request).
    on_message: Reader | None = None
    #: Started by an exact command or its menu number ("登记纠纷", "1").
    on_command: Starter | None = None
    #: Started by the NLU's intent (default: as by command).
    on_intent: Starter | None = None
    commands: tuple[str, ...] = ()
    intents: tuple[Intent, ...] = ()
    menu: int | None = None


@dataclass(frozen=True, slots=True)
class Registry:
    flows: tuple[FlowSpec, ...]

    def active(self, name: str | None) -> FlowSpec | None:
        return next((f for f in self.flows if f.name == name and f.on_message), None)

    def by_command(self, text: str) -> FlowSpec | None:
        word = normalise_command(text)
        return next((f for f in self.flows if word in f.commands), None)

    def by_menu(self, number: int) -> FlowSpec | None:
        return next((f for f in self.flows if f.menu == number), None)

    def by_intent(self, intent: Intent) -> FlowSpec | None:
        return next((f for f in self.flows if intent in f.intents), None)

    @property
    def menu_size(self) -> int:
        return max((f.menu for f in self.flows if f.menu), default=0)

    def check(self) -> None:
        """Every command, intent and menu number belongs to one flow only."""
        _unique("command", (c for f in self.flows for c in f.commands))
        _unique("intent", (i.value for f in self.flows for i in f.intents))
        _unique("menu number", (str(f.menu) for f in self.flows if f.menu))


def normalise_command(text: str) -> str:
    return text.strip().rstrip("!。.！").lower()


def _unique(what: str, values: Iterable[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"the {what} {value!r} belongs to two flows")
        seen.add(value)
