"""Who edits the FAQs: volunteers write drafts; reviewers also publish and manage accounts."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Role(StrEnum):
    VOLUNTEER = "volunteer"
    REVIEWER = "reviewer"


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    role: Role

    @property
    def may_publish(self) -> bool:
        return self.role is Role.REVIEWER


class NotAllowed(Exception):
    """The actor's role does not allow this (a volunteer publishing, say)."""
