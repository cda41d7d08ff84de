"""What the desk does with its data: cases and their changes feed, attachments, escalations,
handoffs and their events feed, idempotent creates. The API and the staff pages both call it.

Every write is one transaction. Creates run under an ``Idempotency-Key``: the key's row is
inserted first, so a second request with the same key waits on the key's unique index and then
finds the first one's stored result instead of creating a second thing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import BaseModel
from sqlalchemy import and_, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from backend_client.models import (
    FINAL_STEPS,
    STEP_ORDER,
    Attachment,
    Case,
    CaseChange,
    CaseCreate,
    ChangesPage,
    Escalation,
    EscalationCreate,
    Handoff,
    HandoffCreate,
    HandoffEvent,
    HandoffEventsPage,
    HandoffEventType,
    HandoffMessageCreate,
    HandoffStatus,
    Step,
)
from casedesk.db import (
    AttachmentRow,
    CaseRow,
    ChangeEvent,
    EscalationRow,
    HandoffEventRow,
    HandoffMessageRow,
    HandoffRow,
    IdempotencyRecord,
    next_value,
    reading,
    utcnow,
    writing,
)
from casedesk.errors import DeskError
from casedesk.settings import Settings
from casedesk.webhook import FeedPinger

CHANGES_FEED = "feed:changes"
HANDOFF_EVENTS_FEED = "feed:handoff_events"
ESCALATION_STATUS = {
    HandoffStatus.WAITING: "open",
    HandoffStatus.TAKEN: "taken",
    HandoffStatus.CLOSED: "closed",
}
OPEN_HANDOFF = (HandoffStatus.WAITING.value, HandoffStatus.TAKEN.value)


def fingerprint(method: str, path: str, body: BaseModel | bytes) -> str:
    """What the request asked for: same key and same fingerprint is a retry."""
    if isinstance(body, BaseModel):
        canonical = json.dumps(body.model_dump(mode="json"), sort_keys=True, ensure_ascii=False)
        payload = canonical.encode()
    else:
        payload = body
    return hashlib.sha256(f"{method} {path}\n".encode() + payload).hexdigest()


def allowed_steps(step: Step) -> list[Step]:
    """Where a case may go from ``step``: the next of the six steps, or it ends (rejected,
    withdrawn); nothing once it is final. Closing (案结事了) is also allowed from any open step."""
    if step in FINAL_STEPS:
        return []
    return [STEP_ORDER[STEP_ORDER.index(step) + 1], Step.REJECTED, Step.WITHDRAWN]


# --- row → contract model ---


def case_model(row: CaseRow) -> Case:
    return Case(
        case_no=row.case_no,
        reference=row.reference,
        dispute_type=row.dispute_type,
        step=Step(row.step),
        department=row.department,
        public_note=row.public_note,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def change_model(row: ChangeEvent) -> CaseChange:
    return CaseChange(
        seq=row.seq,
        case_no=row.case_no,
        reference=row.reference,
        step=Step(row.step),
        department=row.department,
        public_note=row.public_note,
        changed_at=row.changed_at,
    )


def handoff_model(row: HandoffRow) -> Handoff:
    return Handoff(
        id=row.id, status=HandoffStatus(row.status), taken_by=row.taken_by, created_at=row.created_at
    )


def handoff_event_model(row: HandoffEventRow) -> HandoffEvent:
    return HandoffEvent(
        seq=row.seq,
        handoff_id=row.handoff_id,
        resident_ref=row.resident_ref,
        channel=row.channel,
        type=HandoffEventType(row.type),
        text=row.text,
        staff=row.staff,
        at=row.at,
    )


def attachment_model(row: AttachmentRow, case_no: str) -> Attachment:
    return Attachment(
        id=row.id,
        case_no=case_no,
        filename=row.filename,
        content_type=row.content_type,
        size=row.size,
        created_at=row.created_at,
    )


@dataclass(frozen=True)
class Stored:
    """A create's result as sent: 201 the first time, 200 for a retry."""

    status: int
    body: str


@dataclass(frozen=True)
class NewAttachment:
    filename: str
    content_type: str
    size: int
    sha256: str
    storage_name: str


@dataclass(frozen=True)
class Queue:
    urgent: list[tuple[EscalationRow, HandoffRow]]
    new: list[CaseRow]
    rest: list[CaseRow]
    #: The case numbers of the escalations' case references, where the desk has the case.
    case_by_reference: dict[str, str]


@dataclass(frozen=True)
class CaseDetail:
    case: CaseRow
    changes: list[ChangeEvent]
    attachments: list[AttachmentRow]


@dataclass(frozen=True)
class HandoffDetail:
    handoff: HandoffRow
    escalation: EscalationRow | None
    messages: list[HandoffMessageRow]


Create = Callable[[AsyncSession], Awaitable[BaseModel]]


class Desk:
    def __init__(self, settings: Settings, engine: AsyncEngine) -> None:
        self.settings = settings
        self.engine = engine
        self._write = writing(engine)
        self._read = reading(engine)
        self._tz = ZoneInfo(settings.timezone)
        #: Tells the bot when a feed moved (set by the app when a bot webhook is configured).
        self.pinger: FeedPinger | None = None

    async def _next(self, session: AsyncSession, counter: str) -> int:
        value: int = (await session.execute(next_value(counter, self.engine.dialect.name))).scalar_one()
        return value

    # --- idempotent creates ---

    async def idempotent(self, key: str, fingerprint: str, create: Create) -> Stored:
        replay = await self._replay(key, fingerprint)
        if replay is not None:
            return replay
        try:
            async with self._write() as session, session.begin():
                record = IdempotencyRecord(key=key, fingerprint=fingerprint, status_code=201, response="")
                session.add(record)
                await session.flush()  # claims the key: a concurrent request with it stops here
                result = await create(session)
                record.response = result.model_dump_json()
        except IntegrityError:
            replay = await self._replay(key, fingerprint)
            if replay is None:
                raise
            return replay
        return Stored(201, record.response)

    async def _replay(self, key: str, fingerprint: str) -> Stored | None:
        async with self._read() as session:
            record = await session.get(IdempotencyRecord, key)
        if record is None:
            return None
        if record.fingerprint != fingerprint:
            raise DeskError(
                409,
                f"Idempotency-Key {key!r} was already used with a different request "
                "(another path or body); use a new key for a new request",
            )
        return Stored(200, record.response)

    # --- cases ---

    async def create_case(self, session: AsyncSession, body: CaseCreate) -> Case:
        now = utcnow()
        year = now.astimezone(self._tz).year
        prefix = self.settings.case_prefix
        serial = await self._next(session, f"case_no:{prefix}:{year}")
        row = CaseRow(
            case_no=f"{prefix}{year}-{serial:06d}",
            reference=body.reference,
            dispute_type=body.dispute_type,
            description=body.description,
            place=body.place,
            latitude=body.latitude,
            longitude=body.longitude,
            occurred=body.occurred,
            other_party=body.other_party,
            reporter_name=body.reporter.name,
            reporter_phone=body.reporter.phone,
            channel=body.channel,
            resident_ref=body.resident_ref,
            consent_at=body.consent_at,
            step=Step.ACCEPTED.value,
            created_at=now,
            updated_at=now,
        )
        session.add(row)
        await session.flush()
        await self._append_change(session, row, public_note=None, staff=None, at=now)
        return case_model(row)

    async def _append_change(
        self, session: AsyncSession, row: CaseRow, *, public_note: str | None, staff: str | None, at: datetime
    ) -> None:
        seq = await self._next(session, CHANGES_FEED)
        if self.pinger is not None:
            self.pinger.mark(session)
        session.add(
            ChangeEvent(
                seq=seq,
                case_id=row.id,
                case_no=row.case_no,
                reference=row.reference,
                step=row.step,
                department=row.department,
                public_note=public_note,
                staff=staff,
                changed_at=at,
            )
        )

    async def get_case(self, case_no: str) -> Case:
        async with self._read() as session:
            row = await self._case_row(session, case_no)
            return case_model(row)

    async def _case_row(self, session: AsyncSession, case_no: str, *, lock: bool = False) -> CaseRow:
        query = select(CaseRow).where(CaseRow.case_no == case_no)
        if lock:
            query = query.with_for_update()
        row = (await session.execute(query)).scalar_one_or_none()
        if row is None:
            raise DeskError(404, f"no case {case_no!r}")
        return row

    async def changes(self, after: int, limit: int) -> ChangesPage:
        rows, cursor, more = await self._feed_page(ChangeEvent, after, limit)
        return ChangesPage(changes=[change_model(r) for r in rows], next_cursor=cursor, has_more=more)

    async def _feed_page(self, model: Any, after: int, limit: int) -> tuple[list[Any], str, bool]:
        """One page of a feed (rows after ``after``, oldest first), its cursor, and whether more follow."""
        async with self._read() as session:
            rows = list(
                (
                    await session.execute(
                        select(model).where(model.seq > after).order_by(model.seq).limit(limit + 1)
                    )
                ).scalars()
            )
        page = rows[:limit]
        return page, str(page[-1].seq if page else after), len(rows) > limit

    async def add_attachment(self, session: AsyncSession, case_no: str, new: NewAttachment) -> Attachment:
        case = await self._case_row(session, case_no)
        row = AttachmentRow(
            case_id=case.id,
            filename=new.filename,
            content_type=new.content_type,
            size=new.size,
            sha256=new.sha256,
            storage_name=new.storage_name,
        )
        session.add(row)
        await session.flush()
        return attachment_model(row, case.case_no)

    async def case_exists(self, case_no: str) -> bool:
        async with self._read() as session:
            found = await session.execute(select(CaseRow.id).where(CaseRow.case_no == case_no))
            return found.first() is not None

    # --- staff: cases ---

    async def queue(self, *, limit: int = 200) -> Queue:
        async with self._read() as session:
            urgent = [
                (escalation, handoff)
                for escalation, handoff in (
                    await session.execute(
                        select(EscalationRow, HandoffRow)
                        .join(HandoffRow, EscalationRow.handoff_id == HandoffRow.id)
                        .where(HandoffRow.status.in_(OPEN_HANDOFF))
                        .order_by(EscalationRow.created_at, EscalationRow.id)
                    )
                )
            ]
            new = list(
                (
                    await session.execute(
                        select(CaseRow)
                        .where(CaseRow.step == Step.ACCEPTED.value)
                        .order_by(CaseRow.created_at, CaseRow.id)
                        .limit(limit)
                    )
                ).scalars()
            )
            final = [s.value for s in FINAL_STEPS]
            open_ = list(
                (
                    await session.execute(
                        select(CaseRow)
                        .where(CaseRow.step != Step.ACCEPTED.value, CaseRow.step.not_in(final))
                        .order_by(CaseRow.created_at, CaseRow.id)
                        .limit(limit)
                    )
                ).scalars()
            )
            done = list(
                (
                    await session.execute(
                        select(CaseRow)
                        .where(CaseRow.step.in_(final))
                        .order_by(CaseRow.updated_at.desc(), CaseRow.id.desc())
                        .limit(50)
                    )
                ).scalars()
            )
            references = {e.case_reference for e, _ in urgent if e.case_reference}
            case_by_reference = {
                reference: case_no
                for reference, case_no in (
                    await session.execute(
                        select(CaseRow.reference, CaseRow.case_no)
                        .where(CaseRow.reference.in_(references))
                        .order_by(CaseRow.id)
                    )
                )
            }
        return Queue(urgent=urgent, new=new, rest=open_ + done, case_by_reference=case_by_reference)

    async def residents_cases(
        self, residents: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], list[CaseRow]]:
        """Each resident's cases, by (channel, resident_ref), newest first; [] for one with none."""
        wanted = set(residents)
        found: dict[tuple[str, str], list[CaseRow]] = {resident: [] for resident in wanted}
        if not wanted:
            return found
        async with self._read() as session:
            rows = (
                await session.execute(
                    select(CaseRow)
                    .where(CaseRow.resident_ref.in_({ref for _, ref in wanted}))
                    .order_by(CaseRow.created_at.desc(), CaseRow.id.desc())
                )
            ).scalars()
            for row in rows:
                if row.resident_ref is not None and (row.channel, row.resident_ref) in found:
                    found[(row.channel, row.resident_ref)].append(row)
        return found

    async def case_detail(self, case_no: str) -> CaseDetail:
        async with self._read() as session:
            case = await self._case_row(session, case_no)
            changes = list(
                (
                    await session.execute(
                        select(ChangeEvent).where(ChangeEvent.case_id == case.id).order_by(ChangeEvent.seq)
                    )
                ).scalars()
            )
            attachments = list(
                (
                    await session.execute(
                        select(AttachmentRow)
                        .where(AttachmentRow.case_id == case.id)
                        .order_by(AttachmentRow.id)
                    )
                ).scalars()
            )
        return CaseDetail(case, changes, attachments)

    async def attachment(self, case_no: str, attachment_id: int) -> AttachmentRow:
        async with self._read() as session:
            case = await self._case_row(session, case_no)
            row = await session.get(AttachmentRow, attachment_id)
            if row is None or row.case_id != case.id:
                raise DeskError(404, f"案件 {case_no} 没有附件 {attachment_id}")
            return row

    async def move_case(
        self, case_no: str, *, to: Step, expected: Step, public_note: str | None, staff: str
    ) -> Case:
        """Staff move a case to its next step, close it, reject it or record its withdrawal."""
        async with self._write() as session, session.begin():
            row = await self._case_row(session, case_no, lock=True)
            current = Step(row.step)
            if current is not expected:
                raise DeskError(409, f"案件已被他人更新：当前步骤为 {current.value}，请刷新后重试")
            if to not in allowed_steps(current) and not (to is Step.CLOSED and current not in FINAL_STEPS):
                raise DeskError(400, f"案件不能从 {current.value} 转到 {to.value}")
            now = utcnow()
            row.step = to.value
            if public_note:
                row.public_note = public_note
            row.updated_at = now
            await self._append_change(session, row, public_note=public_note or None, staff=staff, at=now)
            return case_model(row)

    async def assign_department(self, case_no: str, department: str, *, staff: str) -> Case | None:
        """None when the case already had that department (nothing changes, nothing is written)."""
        async with self._write() as session, session.begin():
            row = await self._case_row(session, case_no, lock=True)
            if row.department == department:
                return None
            now = utcnow()
            row.department = department
            row.updated_at = now
            await self._append_change(session, row, public_note=None, staff=staff, at=now)
            return case_model(row)

    # --- escalations and handoffs (the bot's side) ---

    async def create_handoff(self, session: AsyncSession, body: HandoffCreate) -> Handoff:
        row = self._new_handoff(body.channel, body.resident_ref, body.text, body.urgent, body.transcript)
        session.add(row)
        await session.flush()
        return handoff_model(row)

    @staticmethod
    def _new_handoff(channel: str, resident_ref: str, text: str, urgent: bool, transcript: Any) -> HandoffRow:
        now = utcnow()
        return HandoffRow(
            channel=channel,
            resident_ref=resident_ref,
            text=text,
            urgent=urgent,
            transcript=[line.model_dump(mode="json") for line in transcript],
            status=HandoffStatus.WAITING.value,
            created_at=now,
            updated_at=now,
        )

    async def create_escalation(self, session: AsyncSession, body: EscalationCreate) -> Escalation:
        handoff = self._new_handoff(body.channel, body.resident_ref, body.text, True, body.transcript)
        session.add(handoff)
        await session.flush()
        row = EscalationRow(
            channel=body.channel,
            resident_ref=body.resident_ref,
            text=body.text,
            categories=list(body.categories),
            self_harm=body.self_harm,
            case_reference=body.case_reference,
            handoff_id=handoff.id,
            created_at=handoff.created_at,
        )
        session.add(row)
        await session.flush()
        return Escalation(id=row.id, status="open", created_at=row.created_at)

    async def _handoff_row(self, session: AsyncSession, handoff_id: int, *, lock: bool = False) -> HandoffRow:
        query = select(HandoffRow).where(HandoffRow.id == handoff_id)
        if lock:
            query = query.with_for_update()
        row = (await session.execute(query)).scalar_one_or_none()
        if row is None:
            raise DeskError(404, f"no handoff {handoff_id}")
        return row

    async def relay_message(
        self, session: AsyncSession, handoff_id: int, body: HandoffMessageCreate
    ) -> Handoff:
        row = await self._handoff_row(session, handoff_id, lock=True)
        if row.status == HandoffStatus.CLOSED.value:
            raise DeskError(409, f"handoff {handoff_id} is closed: the resident is back with the bot")
        now = utcnow()
        session.add(HandoffMessageRow(handoff_id=row.id, sender="resident", text=body.text, at=now))
        row.updated_at = now
        return handoff_model(row)

    async def close_by_bot(self, handoff_id: int) -> Handoff:
        """The bot ends a handoff; closing a closed one changes nothing. No event: the bot knows."""
        async with self._write() as session, session.begin():
            row = await self._handoff_row(session, handoff_id, lock=True)
            if row.status != HandoffStatus.CLOSED.value:
                now = utcnow()
                row.status = HandoffStatus.CLOSED.value
                row.closed_at = now
                row.updated_at = now
            return handoff_model(row)

    async def handoff_events(self, after: int, limit: int) -> HandoffEventsPage:
        rows, cursor, more = await self._feed_page(HandoffEventRow, after, limit)
        return HandoffEventsPage(
            events=[handoff_event_model(r) for r in rows], next_cursor=cursor, has_more=more
        )

    # --- handoffs (the staff's side) ---

    async def inbox(self) -> list[HandoffRow]:
        """Who is waiting or talking to staff: urgent ones first, then the longest waiting."""
        async with self._read() as session:
            return list(
                (
                    await session.execute(
                        select(HandoffRow)
                        .where(HandoffRow.status.in_(OPEN_HANDOFF))
                        .order_by(HandoffRow.urgent.desc(), HandoffRow.created_at, HandoffRow.id)
                    )
                ).scalars()
            )

    async def waiting_count(self) -> int:
        async with self._read() as session:
            count = await session.scalar(
                select(func.count())
                .select_from(HandoffRow)
                .where(HandoffRow.status == HandoffStatus.WAITING.value)
            )
            return int(count or 0)

    async def handoff_detail(self, handoff_id: int, *, after_message: int = 0) -> HandoffDetail:
        async with self._read() as session:
            row = await self._handoff_row(session, handoff_id)
            escalation = (
                await session.execute(select(EscalationRow).where(EscalationRow.handoff_id == row.id))
            ).scalar_one_or_none()
            messages = list(
                (
                    await session.execute(
                        select(HandoffMessageRow)
                        .where(
                            and_(HandoffMessageRow.handoff_id == row.id, HandoffMessageRow.id > after_message)
                        )
                        .order_by(HandoffMessageRow.id)
                    )
                ).scalars()
            )
        return HandoffDetail(row, escalation, messages)

    async def _append_handoff_event(
        self, session: AsyncSession, row: HandoffRow, kind: HandoffEventType, *, staff: str, text: str | None
    ) -> None:
        seq = await self._next(session, HANDOFF_EVENTS_FEED)
        if self.pinger is not None:
            self.pinger.mark(session)
        session.add(
            HandoffEventRow(
                seq=seq,
                handoff_id=row.id,
                resident_ref=row.resident_ref,
                channel=row.channel,
                type=kind.value,
                text=text,
                staff=staff,
                at=utcnow(),
            )
        )

    async def take_handoff(self, handoff_id: int, *, staff: str) -> Handoff:
        async with self._write() as session, session.begin():
            row = await self._handoff_row(session, handoff_id, lock=True)
            if row.status == HandoffStatus.CLOSED.value:
                raise DeskError(409, "该会话已结束，居民已回到机器人")
            if row.status == HandoffStatus.TAKEN.value:
                if row.taken_by == staff:
                    return handoff_model(row)
                raise DeskError(409, f"该会话已由 {row.taken_by} 接入")
            now = utcnow()
            row.status = HandoffStatus.TAKEN.value
            row.taken_by = staff
            row.taken_at = now
            row.updated_at = now
            await self._append_handoff_event(session, row, HandoffEventType.TAKEN, staff=staff, text=None)
            return handoff_model(row)

    async def reply(self, handoff_id: int, text: str, *, staff: str) -> Handoff:
        async with self._write() as session, session.begin():
            row = await self._handoff_row(session, handoff_id, lock=True)
            if row.status != HandoffStatus.TAKEN.value:
                raise DeskError(409, "请先接入该会话再回复" if row.status == "waiting" else "该会话已结束")
            now = utcnow()
            session.add(HandoffMessageRow(handoff_id=row.id, sender="staff", text=text, staff=staff, at=now))
            row.updated_at = now
            await self._append_handoff_event(session, row, HandoffEventType.MESSAGE, staff=staff, text=text)
            return handoff_model(row)

    async def hand_back(self, handoff_id: int, *, staff: str) -> Handoff:
        async with self._write() as session, session.begin():
            row = await self._handoff_row(session, handoff_id, lock=True)
            if row.status == HandoffStatus.CLOSED.value:
                raise DeskError(409, "该会话已结束")
            now = utcnow()
            row.status = HandoffStatus.CLOSED.value
            row.closed_at = now
            row.updated_at = now
            await self._append_handoff_event(session, row, HandoffEventType.CLOSED, staff=staff, text=None)
            return handoff_model(row)
