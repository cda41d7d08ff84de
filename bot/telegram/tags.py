"""Chat ids in logs, pseudonymised: a keyed hash, because an unkeyed hash of a number as small as a
chat id is reversed by trying them all. The key is the webhook secret, which only the bot knows."""

from __future__ import annotations

import hashlib
import hmac


class ChatTags:
    def __init__(self, key: str) -> None:
        self._key = key.encode("utf-8")

    def __call__(self, chat_id: int | str) -> str:
        return hmac.new(self._key, str(chat_id).encode("utf-8"), hashlib.sha256).hexdigest()[:12]
