"""What a flow step receives and returns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from bot.cases.steps import CaseSteps
from bot.dialogs.messages import Inbound, Outbound
from bot.dialogs.ports import CaseDesk
from bot.dialogs.replies import Replies
from bot.dialogs.state import ConversationState
from bot.dialogs.work import Work
from bot.faq.index import FaqIndex
from bot.nlu.classifier import Classification
from bot.nlu.labels import DisputeCatalog


class FaqSource(Protocol):
    """The FAQs residents are answered from right now (published edits show at once)."""

    def index(self) -> FaqIndex: ...


@dataclass(frozen=True, slots=True)
class Services:
    replies: Replies
    catalog: DisputeCatalog
    faqs: FaqSource
    steps: CaseSteps


@dataclass(frozen=True, slots=True)
class Turn:
    inbound: Inbound
    #: The normalised text (half-width, simplified, emoji removed, capped).
    text: str
    nlu: Classification
    now: datetime
    desk: CaseDesk
    svc: Services

    def say(self, key: str, **values: Any) -> Outbound:
        return self.svc.replies.say(key, **values)


@dataclass(frozen=True, slots=True)
class Step:
    state: ConversationState
    replies: tuple[Outbound, ...]
    work: tuple[Work, ...] = ()

    def then(self, *more: Outbound) -> Step:
        return Step(self.state, self.replies + more, self.work)

    def before(self, *first: Outbound) -> Step:
        return Step(self.state, first + self.replies, self.work)
