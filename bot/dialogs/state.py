"""A conversation's state between two turns: which flow is active, at which step, with what
collected so far. Immutable; each turn returns a new one. Stored as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, ClassVar


@dataclass(frozen=True, slots=True)
class FormProgress:
    """Where a form stands besides its values (``bot/dialogs/form.py``)."""

    #: A value proposed for the pending question, awaiting 是/不是 (the NLU's dispute type, a
    #: phone number the resident wrote earlier).
    offered: str | None = None
    #: Values read from what the resident said before they were asked (proposed, not yet asked).
    hints: dict[str, str] = field(default_factory=dict)
    #: The questions asked so far, oldest first ("上一步" goes back along it).
    asked: tuple[str, ...] = ()
    #: When the form began (what the resident typed since is erased if they decline or stop).
    started: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        started = self.started.isoformat() if self.started else None
        return {"offered": self.offered, "hints": self.hints, "asked": list(self.asked), "started": started}

    @classmethod
    def from_json(cls, raw: dict[str, Any] | None) -> FormProgress:
        raw = raw or {}
        started = datetime.fromisoformat(raw["started"]) if raw.get("started") else None
        return cls(raw.get("offered"), dict(raw.get("hints") or {}), tuple(raw.get("asked") or ()), started)


@dataclass(frozen=True, slots=True)
class Paused:
    """A flow set aside (by an urgent message, or by expiry) that the resident can resume."""

    flow: str
    step: str
    slots: dict[str, Any]
    form: FormProgress = field(default_factory=FormProgress)


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
    form: FormProgress = field(default_factory=FormProgress)

    def goto(
        self, flow: str | None, step: str | None = None, slots: dict[str, Any] | None = None
    ) -> ConversationState:
        return replace(
            self, flow=flow, step=step, slots=dict(slots) if slots is not None else {}, form=FormProgress()
        )

    def idle(self) -> ConversationState:
        return self.goto(None)

    def with_slots(self, **values: Any) -> ConversationState:
        return replace(self, slots={**self.slots, **values})

    def at(self, step: str) -> ConversationState:
        return replace(self, step=step)

    def pause(self) -> ConversationState:
        if self.flow is None or self.step is None:
            return self
        paused = Paused(self.flow, self.step, dict(self.slots), self.form)
        return replace(self, paused=paused, flow=None, step=None, slots={}, form=FormProgress())

    def resume(self) -> ConversationState:
        if self.paused is None:
            return self
        p = self.paused
        return replace(self, flow=p.flow, step=p.step, slots=dict(p.slots), paused=None, form=p.form)

    def with_form(self, **changes: Any) -> ConversationState:
        return replace(self, form=replace(self.form, **changes))

    def forget_personal(self) -> ConversationState:
        """A fresh state that keeps only what protects the resident (the look-up limit): what
        they declined or cancelled is gone, phone numbers they wrote included."""
        return ConversationState(lookups=self.lookups)

    def remember_phones(self, phones: list[str]) -> ConversationState:
        merged = tuple(dict.fromkeys([*self.known_phones, *phones]))[-3:]
        return replace(self, known_phones=merged)

    def to_json(self) -> dict[str, Any]:
        return {
            "flow": self.flow,
            "step": self.step,
            "slots": self.slots,
            "paused": {
                "flow": self.paused.flow,
                "step": self.paused.step,
                "slots": self.paused.slots,
                "form": self.paused.form.to_json(),
            }
            if self.paused
            else None,
            "form": self.form.to_json(),
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
        flow, step, slots, form = _upgrade(
            raw.get("flow"), raw.get("step"), dict(raw.get("slots") or {}), raw.get("form")
        )
        return cls(
            flow=flow,
            step=step,
            slots=slots,
            form=form,
            paused=_paused_from_json(paused) if paused else None,
            known_phones=tuple(raw.get("known_phones") or ()),
            lookups=LookupGuard(
                int(lookups.get("failures") or 0),
                datetime.fromisoformat(lookups["last_failure"]) if lookups.get("last_failure") else None,
            ),
            last_active=datetime.fromisoformat(last) if last else None,
        )


def _paused_from_json(raw: dict[str, Any]) -> Paused:
    flow, step, slots, form = _upgrade(raw["flow"], raw["step"], dict(raw["slots"]), raw.get("form"))
    return Paused(str(flow), str(step), slots, form)


#: Report steps saved before the form engine (conversations in flight when it was deployed).
_OLD_REPORT_STEPS = {"confirm_type": "dispute_type", "pick_type": "dispute_type", "known_phone": "phone"}


def _upgrade(
    flow: str | None, step: str | None, slots: dict[str, Any], form: dict[str, Any] | None
) -> tuple[str | None, str | None, dict[str, Any], FormProgress]:
    """Read a state saved by an older version: the report's old step names and magic keys."""
    progress = FormProgress.from_json(form)
    if flow == "report" and step in _OLD_REPORT_STEPS:
        offered = slots.get("_suggested") if step == "confirm_type" else slots.get("_offered_phone")
        progress = replace(progress, offered=offered if step != "pick_type" else None)
        step = _OLD_REPORT_STEPS[step]
    for old in ("_suggested", "_offered_phone", "_fixing"):
        slots.pop(old, None)
    return flow, step, slots, progress
