"""The console's audit log: one row per sign-in, publication and account change."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.models import AuditEvent


def record(
    session: AsyncSession,
    action: str,
    *,
    actor: str | None,
    target: str | None = None,
    detail: str | None = None,
) -> None:
    """Add an event to the caller's transaction (it is written with what it describes, or not at all)."""
    session.add(
        AuditEvent(actor=actor, action=action, target=target, detail=detail[:2000] if detail else None)
    )
