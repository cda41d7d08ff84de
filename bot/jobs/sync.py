"""Progress sync: read the case system's changes feed from the last cursor, store each case's new
step, and queue one notification per change. One process at a time holds the job's lease
(renewed while it reads, free again seconds after its holder dies); the cursor moves in the same
transaction as the page's changes, so a crash re-reads at most one page, and the notification's
dedupe key makes a re-read harmless."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from backend_client import CaseSystemClient
from backend_client.models import CaseChange
from bot.cases.steps import CaseSteps
from bot.dialogs.replies import Replies
from bot.jobs import leases
from bot.jobs.heartbeat import RENEW_EVERY
from bot.jobs.notices import queue_notification
from bot.storage import models

log = structlog.get_logger(__name__)
JOB = "progress_sync"


@dataclass
class SyncResult:
    ran: bool = False
    pages: int = 0
    changes: int = 0
    applied: int = 0
    requests: int = 0


class ProgressSync:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        client: CaseSystemClient,
        replies: Replies,
        steps: CaseSteps,
        *,
        page_size: int = 1000,
        holder: str | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        renew_every: timedelta = RENEW_EVERY,
    ) -> None:
        self._sessions = sessions
        self._client = client
        self._replies = replies
        self._steps = steps
        self._page_size = page_size
        self.holder = holder or f"sync-{uuid.uuid4().hex[:8]}"
        self._clock = clock
        self._renew_every = renew_every

    async def sync_once(self) -> SyncResult:
        requests = 0

        async def fetch(cursor: str | None) -> tuple[list[CaseChange], str, bool]:
            nonlocal requests
            requests += 1
            page = await self._client.changes(cursor, limit=self._page_size)
            return page.changes, page.next_cursor, page.has_more

        run = await leases.read_feed(
            self._sessions, JOB, self.holder, self._clock, fetch, self._apply, renew_every=self._renew_every
        )
        if run is None:
            return SyncResult()
        if run.items:
            log.info("sync.done", pages=run.pages, changes=run.items, applied=run.applied)
        return SyncResult(
            ran=True, pages=run.pages, changes=run.items, applied=run.applied, requests=requests
        )

    async def _apply(self, session: AsyncSession, changes: Sequence[CaseChange]) -> int:
        if not changes:
            return 0
        numbers = {c.case_no for c in changes}
        cases = {
            c.backend_case_no: c
            for c in await session.scalars(
                select(models.Case).where(models.Case.backend_case_no.in_(numbers))
            )
        }
        applied = 0
        for change in changes:
            case = cases.get(change.case_no)
            if case is None or (case.last_change_seq or 0) >= change.seq:
                continue  # not a case of ours, or already applied
            news = (
                change.step.value != case.step
                or (change.department is not None and change.department != case.department)
                or bool(change.public_note)
            )
            case.step, case.last_change_seq = change.step.value, change.seq
            case.department = change.department or case.department
            case.public_note = change.public_note or case.public_note
            if not news:  # e.g. the feed's record of the case's creation: the resident was told already
                continue
            await queue_notification(
                session,
                channel=case.channel,
                user_id=case.user_id,
                text=self._text(case.reference, change),
                key=f"change:{change.case_no}:{change.seq}",
            )
            applied += 1
        return applied

    def _text(self, reference: str, change: CaseChange) -> str:
        step = self._steps.get(change.step.value)
        parts = [
            self._replies.text(
                "notify.step", reference=reference, step=step.name, meaning=step.meaning, next=step.next
            )
        ]
        if change.department:
            parts.append(self._replies.text("notify.step_department", department=change.department))
        if change.public_note:
            parts.append(self._replies.text("notify.step_note", note=change.public_note))
        return "\n".join(parts)
