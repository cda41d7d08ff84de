"""What the engine needs from the outside world, as protocols. ``bot/storage`` implements them
with SQLAlchemy; nothing here knows about databases."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from bot.dialogs.messages import Inbound, Outbound
from bot.dialogs.state import ConversationState
from bot.dialogs.work import Work
from bot.nlu.classifier import Classification


class Classifies(Protocol):
    async def classify(self, raw_text: str) -> Classification: ...

    def is_urgent(self, raw_text: str) -> bool:
        """Whether the urgent rules fire, without asking the model."""
        ...


@dataclass(frozen=True, slots=True)
class CaseView:
    reference: str
    dispute_type: str
    #: The centre's step code (accepted, mediation, …), or None while not yet filed.
    step: str | None
    phone_last4: str
    channel: str
    user_id: str


@dataclass(frozen=True, slots=True)
class HandoffView:
    id: int
    #: requested, waiting (at the desk, nobody has taken it yet), taken (the bot only relays)
    status: str
    last_activity_at: datetime


class CaseDesk(Protocol):
    """What flows may read about cases, and the reference numbers they hand out."""

    async def allocate_reference(self) -> str: ...

    async def cases_of(self, channel: str, user_id: str) -> list[CaseView]: ...

    async def find_case(self, reference: str) -> CaseView | None: ...


class TurnTransaction(CaseDesk, Protocol):
    async def load_state(self) -> ConversationState: ...

    async def save_state(self, state: ConversationState) -> None: ...

    async def add_work(self, work: Work) -> None: ...

    async def record_message(self, inbound: Inbound, replies: tuple[Outbound, ...]) -> None: ...

    async def replay(self, message_id: str) -> tuple[Outbound, ...] | None: ...

    async def active_handoff(self) -> HandoffView | None: ...

    async def take_held_notifications(self) -> tuple[Outbound, ...]:
        """Notifications the channel could not push: they go out with this turn's replies."""
        ...


class DuplicateMessage(Exception):
    """Another process recorded the same (channel, message id) first."""


class TurnStore(Protocol):
    async def replay(self, channel: str, user_id: str, message_id: str) -> tuple[Outbound, ...] | None: ...

    async def recent_messages(self, channel: str, user_id: str, since: datetime) -> int:
        """How many messages of this resident were handled since ``since`` (for rate limiting)."""
        ...

    def transaction(self, channel: str, user_id: str) -> AbstractAsyncContextManager[TurnTransaction]: ...


class HandlesTurns(Protocol):
    """The engine as channels see it (the real one, or one wrapped for metrics)."""

    async def handle(self, inbound: Inbound) -> tuple[Outbound, ...]: ...
