"""Fetching a resident's photo from its channel, so the outbox can forward it to the case system
as an attachment of the filed case. Each channel that receives images provides a ``MediaSource``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Media:
    filename: str
    content: bytes
    content_type: str


class MediaGone(Exception):
    """The channel no longer has the file (WeChat keeps media 3 days): nothing to forward."""


class MediaSource(Protocol):
    async def fetch(self, ref: str) -> Media:
        """The bytes behind an ``Attachment.ref``; raises ``MediaGone`` for good, anything else
        (network) to be retried."""
        ...
