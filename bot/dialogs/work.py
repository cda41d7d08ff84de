"""Outgoing work a turn produces. The engine saves it in the same transaction as the new state;
workers (the outbox) carry it to the case system later."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class CaseReport:
    reference: str
    channel: str
    user_id: str
    dispute_type: str
    description: str
    place: str
    occurred: str
    other_party: str | None
    name: str | None  # None: anonymous
    phone: str | None  # None: the resident left no phone (staff answer in the chat)
    attachments: tuple[str, ...] = ()
    location: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class Escalation:
    """Imminent danger: goes to the on-duty staff before anything else."""

    channel: str
    user_id: str
    text: str
    categories: tuple[str, ...]
    self_harm: bool


@dataclass(frozen=True, slots=True)
class SafetyCheck:
    """Possible danger: the bot asked whether the resident is safe. Unless the resident answers
    first (``SafetyCheckResolved``), staff are asked to look after ``wait``, below the alarms."""

    channel: str
    user_id: str
    text: str
    wait: timedelta = timedelta(minutes=5)


@dataclass(frozen=True, slots=True)
class SafetyCheckResolved:
    """The resident answered the safety question: the queued request to staff is withdrawn."""

    channel: str
    user_id: str


@dataclass(frozen=True, slots=True)
class Handoff:
    channel: str
    user_id: str
    text: str


@dataclass(frozen=True, slots=True)
class HandoffRelay:
    """What the resident wrote while staff have the conversation: goes to the desk."""

    handoff_id: int
    text: str
    #: The message sounds dangerous: the staff member sees it flagged.
    urgent: bool = False


@dataclass(frozen=True, slots=True)
class HandoffDanger:
    """Danger told while staff have the conversation: the message went to them flagged (the
    relay); unless a staff member replies within ``wait``, the alarm path runs after all
    (an escalation on top of the desk, the emergency numbers to the resident). One per handoff:
    while one is waiting, more danger adds nothing."""

    handoff_id: int
    channel: str
    user_id: str
    text: str
    categories: tuple[str, ...]
    self_harm: bool
    #: The reply key of the alert the resident gets if nobody answers.
    alert: str
    wait: timedelta = timedelta(minutes=3)


@dataclass(frozen=True, slots=True)
class HandoffClose:
    """The bot ends a handoff (the resident was quiet for 30 minutes)."""

    handoff_id: int


@dataclass(frozen=True, slots=True)
class FaqMiss:
    """A legal question the FAQs could not answer, for the volunteers' queue."""

    text: str
    dispute_type: str | None
    candidates: tuple[str, ...] = field(default_factory=tuple)
    #: The FAQ the bot answered with, when the resident said it did not help ("没用").
    answered_with: str | None = None


@dataclass(frozen=True, slots=True)
class ForgetMessages:
    """The resident declined consent or dropped the report: what they typed for it since
    ``since`` is erased from the record of handled messages (the exactly-once record keeps only
    that a message id was handled)."""

    channel: str
    user_id: str
    since: datetime


@dataclass(frozen=True, slots=True)
class EraseResident:
    """The resident asked for their personal data to be deleted (个人信息保护法 第四十七条) and
    confirmed: the bot's own copy goes in the turn's transaction; the case system is asked to
    delete or keep its copy, and the resident is told the outcome."""

    channel: str
    user_id: str


Work = (
    CaseReport
    | Escalation
    | SafetyCheck
    | SafetyCheckResolved
    | Handoff
    | HandoffRelay
    | HandoffDanger
    | HandoffClose
    | FaqMiss
    | ForgetMessages
    | EraseResident
)
