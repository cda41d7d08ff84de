"""The centre's steps for a case (``knowledge/case_steps.yml``), with what each means."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import yaml


@dataclass(frozen=True, slots=True)
class CaseStep:
    code: str
    name: str
    meaning: str
    next: str


@dataclass(frozen=True, slots=True)
class CaseSteps:
    steps: tuple[CaseStep, ...]

    @classmethod
    def load(cls, knowledge_dir: Path) -> CaseSteps:
        raw = yaml.safe_load((knowledge_dir / "case_steps.yml").read_text(encoding="utf-8"))
        return cls(
            tuple(
                CaseStep(str(s["code"]), str(s["name"]), str(s["meaning"]), str(s["next"]))
                for s in raw["steps"]
            )
        )

    def get(self, code: str) -> CaseStep:
        for step in self.steps:
            if step.code == code:
                return step
        raise KeyError(code)

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(s.code for s in self.steps)
