"""A conversation's state between two turns: which flow is active, at which step, with what
collected so far. Immutable; each turn returns a new one. Stored as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class Paused:
    """A flow set aside (by an urgent message, or by expiry) that the resident can resume."""

    flow: str
    step: str
    slots: dict[str, Any]


@dataclass(frozen=True, slots=True)
class LookupGuard:
    """Failed case look-ups (reference + phone digits): after too many, look-ups pause for a while,
    so nobody can guess their way to another resident's case."""

    failures: int = 0
    last_failure: datetime | None = None

    LIMIT: ClassVar[int] = 5
    PAUSE: ClassVar[timedelta] = timedelta(hours=1)

    def blocked(self, now: datetime) -> bool:
        return (
            self.failures >= self.LIMIT
            and self.last_failure is not None
            and now - self.last_failure < self.PAUSE
        )

    def failed(self, now: datetime) -> LookupGuard:
        expired = self.last_failure is not None and now - self.last_failure >= self.PAUSE
        return LookupGuard((0 if expired else self.failures) + 1, now)


@dataclass(frozen=True, slots=True)
class ConversationState:
    flow: str | None = None
    step: str | None = None
    slots: dict[str, Any] = field(default_factory=dict)
    paused: Paused | None = None
    #: Phone numbers the resident wrote in any earlier message (offered back at the phone step).
    known_phones: tuple[str, ...] = ()
    lookups: LookupGuard = field(default_factory=LookupGuard)
    last_active: datetime | None = None

    def goto(
        self, flow: str | None, step: str | None = None, slots: dict[str, Any] | None = None
    ) -> ConversationState:
        return replace(self, flow=flow, step=step, slots=dict(slots) if slots is not None else {})

    def idle(self) -> ConversationState:
        return self.goto(None)

    def with_slots(self, **values: Any) -> ConversationState:
        return replace(self, slots={**self.slots, **values})

    def at(self, step: str) -> ConversationState:
        return replace(self, step=step)

    def pause(self) -> ConversationState:
        if self.flow is None or self.step is None:
            return self
        return replace(
            self, paused=Paused(self.flow, self.step, dict(self.slots)), flow=None, step=None, slots={}
        )

    def resume(self) -> ConversationState:
        if self.paused is None:
            return self
        p = self.paused
        return replace(self, flow=p.flow, step=p.step, slots=dict(p.slots), paused=None)

    def remember_phones(self, phones: list[str]) -> ConversationState:
        merged = tuple(dict.fromkeys([*self.known_phones, *phones]))[-3:]
        return replace(self, known_phones=merged)

    def to_json(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "step": self.step,
            "slots": self.slots,
            "paused": {"flow": self.paused.flow, "step": self.paused.step, "slots": self.paused.slots}
            if self.paused
            else None,
            "known_phones": list(self.known_phones),
            "lookups": {
                "failures": self.lookups.failures,
                "last_failure": self.lookups.last_failure.isoformat() if self.lookups.last_failure else None,
            },
            "last_active": self.last_active.isoformat() if self.last_active else None,
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> ConversationState:
        if not raw:
            return cls()
        paused = raw.get("paused")
        last = raw.get("last_active")
        lookups = raw.get("lookups") or {}
        return cls(
            flow=raw.get("flow"),
            step=raw.get("step"),
            slots=dict(raw.get("slots") or {}),
            paused=Paused(paused["flow"], paused["step"], dict(paused["slots"])) if paused else None,
            known_phones=tuple(raw.get("known_phones") or ()),
            lookups=LookupGuard(
                int(lookups.get("failures") or 0),
                datetime.fromisoformat(lookups["last_failure"]) if lookups.get("last_failure") else None,
            ),
            last_active=datetime.fromisoformat(last) if last else None,
        )
