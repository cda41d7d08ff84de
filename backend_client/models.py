"""The case-system contract's data (docs/backend-api.md, docs/backend-api.yaml).

Plain pydantic models: the client, the reference case desk and the tests share them, and the
desk's generated OpenAPI schema is checked against the committed one.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Step(StrEnum):
    """The centre's six steps, then the two ways a case ends without them."""

    ACCEPTED = "accepted"  # 登记受理
    MEDIATION = "mediation"  # 先行调解
    RISK_ASSESSMENT = "risk_assessment"  # 风险研判
    ROUTING = "routing"  # 分类流转
    SUPERVISION = "supervision"  # 跟踪督办
    CLOSED = "closed"  # 案结事了
    REJECTED = "rejected"  # 不予受理
    WITHDRAWN = "withdrawn"  # 已撤回


#: The six steps in order; a case moves forward one at a time (or ends: rejected, withdrawn).
STEP_ORDER = (
    Step.ACCEPTED,
    Step.MEDIATION,
    Step.RISK_ASSESSMENT,
    Step.ROUTING,
    Step.SUPERVISION,
    Step.CLOSED,
)
FINAL_STEPS = frozenset({Step.CLOSED, Step.REJECTED, Step.WITHDRAWN})


class Reporter(_Model):
    name: str | None = Field(None, max_length=64, description="null: the resident stays anonymous")
    phone: str | None = Field(
        None, min_length=3, max_length=32, description="null: no phone, answer in the chat"
    )


class TranscriptLine(_Model):
    at: AwareDatetime
    sender: str = Field(pattern="^(resident|bot|staff)$")
    text: str = Field(max_length=5000)


class CaseCreate(_Model):
    reference: str = Field(
        min_length=1, max_length=32, description="the bot's reference, e.g. TJ20261122-0001"
    )
    dispute_type: str = Field(max_length=32)
    description: str = Field(max_length=5000)
    place: str = Field(max_length=500)
    latitude: float | None = None
    longitude: float | None = None
    occurred: str = Field(max_length=128)
    other_party: str | None = Field(None, max_length=128)
    reporter: Reporter
    channel: str = Field(max_length=16)
    consent_at: AwareDatetime
    resident_ref: str | None = Field(
        None,
        max_length=64,
        description="the resident's pseudonymous id on the bot side (as on handoffs and "
        "escalations): staff see a resident's cases next to their handoffs; null: not linked",
    )


class Case(_Model):
    case_no: str = Field(description="the centre's case number")
    reference: str
    dispute_type: str
    step: Step
    department: str | None = Field(None, description="the handling department, once assigned")
    public_note: str | None = Field(None, description="a note meant for the resident")
    created_at: AwareDatetime
    updated_at: AwareDatetime


class CaseChange(_Model):
    seq: int = Field(description="position in the changes feed")
    case_no: str
    reference: str
    step: Step
    department: str | None = None
    public_note: str | None = None
    changed_at: AwareDatetime


class ChangesPage(_Model):
    changes: list[CaseChange]
    next_cursor: str = Field(description="pass as updated_since to continue after this page")
    has_more: bool


class Attachment(_Model):
    id: int
    case_no: str
    filename: str
    content_type: str
    size: int
    created_at: AwareDatetime


class EscalationCreate(_Model):
    channel: str = Field(max_length=16)
    resident_ref: str = Field(max_length=64, description="a pseudonymous id of the resident on the bot side")
    text: str = Field(max_length=5000)
    categories: list[str] = Field(max_length=10)
    self_harm: bool
    case_reference: str | None = None
    transcript: list[TranscriptLine] = Field(default_factory=list, max_length=100)


class Escalation(_Model):
    id: int
    status: str = Field(description="open, taken or closed")
    created_at: AwareDatetime


class HandoffStatus(StrEnum):
    WAITING = "waiting"
    TAKEN = "taken"
    CLOSED = "closed"


class HandoffCreate(_Model):
    channel: str = Field(max_length=16)
    resident_ref: str = Field(max_length=64)
    text: str = Field(max_length=5000)
    urgent: bool = False
    transcript: list[TranscriptLine] = Field(default_factory=list, max_length=100)


class Handoff(_Model):
    id: int
    status: HandoffStatus
    taken_by: str | None = None
    created_at: AwareDatetime


class HandoffMessageCreate(_Model):
    text: str = Field(max_length=5000)


class HandoffEventType(StrEnum):
    TAKEN = "taken"  # a staff member took the conversation
    MESSAGE = "message"  # staff wrote to the resident
    CLOSED = "closed"  # staff handed the conversation back to the bot


class HandoffEvent(_Model):
    seq: int
    handoff_id: int
    resident_ref: str
    channel: str
    type: HandoffEventType
    text: str | None = None
    staff: str | None = None
    at: AwareDatetime


class HandoffEventsPage(_Model):
    events: list[HandoffEvent]
    next_cursor: str
    has_more: bool


class ErasureRequestCreate(_Model):
    """A resident asked the bot to delete their personal data (个人信息保护法 第四十七条)."""

    channel: str = Field(max_length=16)
    resident_ref: str = Field(max_length=64)
    case_nos: list[str] = Field(default_factory=list, max_length=100, description="the resident's cases")


class ErasureOutcomeKind(StrEnum):
    ERASED = "erased"  # the personal data is deleted (the case keeps its number, type and dates)
    KEPT = "kept"  # a law requires keeping the case: the request is recorded for staff, who
    # stop every use but storage (第四十七条第二款) and contact the resident
    UNKNOWN = "unknown"  # no such case at the desk


class ErasureOutcome(_Model):
    case_no: str
    outcome: ErasureOutcomeKind


class ErasureRequest(_Model):
    id: int
    cases: list[ErasureOutcome]
    #: Closed conversations with staff (handoffs, escalations) whose texts were deleted.
    conversations_erased: int
    created_at: AwareDatetime


class Problem(_Model):
    """Every error: what failed, in words (RFC 9457 style)."""

    title: str
    status: int
    detail: str | None = None
