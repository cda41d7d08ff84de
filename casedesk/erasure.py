"""A resident's request to delete their personal data (个人信息保护法 第四十七条), as the bot
relays it: what the desk deletes, and what it must keep.

A case nobody has started to mediate (still 登记受理, or rejected, or withdrawn) loses every
personal detail at once; it keeps its number, type and dates so that the centre's figures still
add up. A case that reached mediation is part of the mediation archive the law requires
(人民调解法 第二十七条): it is kept, marked so that staff see the request and use it for nothing
but storage (第四十七条第二款), and the resident is told so. Closed conversations with staff lose
their texts; open ones are left to the staff member handling them.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from backend_client.models import (
    ErasureOutcome,
    ErasureOutcomeKind,
    ErasureRequest,
    ErasureRequestCreate,
    HandoffStatus,
    Step,
)
from casedesk.db import (
    AttachmentRow,
    CaseRow,
    ErasureRequestRow,
    EscalationRow,
    HandoffMessageRow,
    HandoffRow,
    utcnow,
)

#: Steps at which no mediation has begun: nothing the archive must keep.
ERASABLE_STEPS = frozenset({Step.ACCEPTED.value, Step.REJECTED.value, Step.WITHDRAWN.value})
#: What an erased text field says instead, for staff who open the case later.
ERASED = "（应居民要求已删除）"


async def erase_for_resident(
    session: AsyncSession, body: ErasureRequestCreate, attachments_dir: Path
) -> tuple[ErasureRequest, list[Path]]:
    """Apply the request; returns the answer and the attachment files to delete once the
    transaction has committed (a rolled-back request must not have lost files)."""
    now = utcnow()
    outcomes: list[ErasureOutcome] = []
    files: list[Path] = []
    for case_no in dict.fromkeys(body.case_nos):
        row = await session.scalar(select(CaseRow).where(CaseRow.case_no == case_no).with_for_update())
        if row is None:
            outcomes.append(ErasureOutcome(case_no=case_no, outcome=ErasureOutcomeKind.UNKNOWN))
        elif row.step in ERASABLE_STEPS:
            files += await _erase_case(session, row, attachments_dir)
            row.updated_at = now
            outcomes.append(ErasureOutcome(case_no=case_no, outcome=ErasureOutcomeKind.ERASED))
        else:
            row.erasure_requested_at = row.erasure_requested_at or now
            outcomes.append(ErasureOutcome(case_no=case_no, outcome=ErasureOutcomeKind.KEPT))
    conversations = await _erase_closed_conversations(session, body.channel, body.resident_ref)
    record = ErasureRequestRow(
        channel=body.channel,
        outcomes=[o.model_dump(mode="json") for o in outcomes],
        conversations_erased=conversations,
        created_at=now,
    )
    session.add(record)
    await session.flush()
    answer = ErasureRequest(
        id=record.id, cases=outcomes, conversations_erased=conversations, created_at=record.created_at
    )
    return answer, files


async def _erase_case(session: AsyncSession, row: CaseRow, attachments_dir: Path) -> list[Path]:
    row.description = ERASED
    row.place = ERASED
    row.occurred = ""
    row.other_party = None
    row.reporter_name = None
    row.reporter_phone = None
    row.latitude = row.longitude = None
    row.resident_ref = None  # no longer linked to anyone
    attachments = list(await session.scalars(select(AttachmentRow).where(AttachmentRow.case_id == row.id)))
    for attachment in attachments:
        await session.delete(attachment)
    return [attachments_dir / a.storage_name for a in attachments]


async def _erase_closed_conversations(session: AsyncSession, channel: str, resident_ref: str) -> int:
    closed = list(
        await session.scalars(
            select(HandoffRow).where(
                HandoffRow.channel == channel,
                HandoffRow.resident_ref == resident_ref,
                HandoffRow.status == HandoffStatus.CLOSED.value,
                HandoffRow.text != ERASED,
            )
        )
    )
    for handoff in closed:
        handoff.text = ERASED
        handoff.transcript = []
        await session.execute(
            update(HandoffMessageRow).where(HandoffMessageRow.handoff_id == handoff.id).values(text=ERASED)
        )
        await session.execute(
            update(EscalationRow).where(EscalationRow.handoff_id == handoff.id).values(text=ERASED)
        )
    return len(closed)
