"""Resident-facing texts, loaded from ``knowledge/replies.yml`` (and the centre's facts from
``knowledge/centre.yml``). Flows ask for a text by key; nothing else holds wording."""

from __future__ import annotations

import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from bot.dialogs.messages import Outbound


@dataclass(frozen=True, slots=True)
class Centre:
    name: str
    hotline: str
    duty_hours: str
    address: str
    response_days: int
    retention: str
    #: knowledge/centre.yml ``keep_days``: how long each kind of personal data is kept.
    keep_days: dict[str, int] = field(default_factory=dict)

    @classmethod
    def load(cls, knowledge_dir: Path) -> Centre:
        raw = yaml.safe_load((knowledge_dir / "centre.yml").read_text(encoding="utf-8"))
        return cls(
            name=str(raw["name"]),
            hotline=str(raw["hotline"]),
            duty_hours=str(raw["duty_hours"]),
            address=str(raw["address"]),
            response_days=int(raw["response_days"]),
            retention=str(raw["retention"]),
            keep_days={str(k): int(v) for k, v in (raw.get("keep_days") or {}).items()},
        )


@dataclass(frozen=True, slots=True)
class Text:
    text: str
    options: tuple[str, ...]

    def placeholders(self) -> set[str]:
        return {name for _, name, _, _ in string.Formatter().parse(self.text) if name}


class Replies:
    def __init__(
        self,
        texts: dict[str, Text],
        labels: dict[str, str],
        anonymous: str,
        unknown: str,
        centre: Centre,
        web: dict[str, str] | None = None,
    ):
        self._texts = texts
        self.labels = labels
        self.anonymous = anonymous
        self.unknown = unknown
        self.centre = centre
        #: The web chat page's own words (title, buttons, status lines).
        self.web = web or {}
        self._defaults = {
            "centre": centre.name,
            "hotline": centre.hotline,
            "duty_hours": centre.duty_hours,
            "address": centre.address,
            "response_days": centre.response_days,
            "retention": centre.retention,
            "keep_message_days": centre.keep_days.get("message_texts", ""),
            "keep_state_days": centre.keep_days.get("conversation_state", ""),
        }

    @classmethod
    def load(cls, knowledge_dir: Path) -> Replies:
        path = knowledge_dir / "replies.yml"
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        texts = {
            key: Text(str(value["text"]), tuple(str(o) for o in value.get("options") or ()))
            for key, value in raw["texts"].items()
        }
        return cls(
            texts,
            {str(k): str(v) for k, v in raw["labels"].items()},
            str(raw["anonymous"]),
            str(raw["unknown"]),
            Centre.load(knowledge_dir),
            {str(k): str(v) for k, v in (raw.get("web") or {}).items()},
        )

    @property
    def keys(self) -> list[str]:
        return list(self._texts)

    def template(self, key: str) -> Text:
        return self._texts[key]

    def text(self, key: str, **values: Any) -> str:
        return self._texts[key].text.format(**{**self._defaults, **values})

    def say(self, key: str, *, options: tuple[str, ...] | None = None, **values: Any) -> Outbound:
        template = self._texts[key]
        return Outbound(
            text=self.text(key, **values),
            options=template.options if options is None else options,
            key=key,
        )
