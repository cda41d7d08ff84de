"""The case system's "something changed" call to the bot (docs/backend-api.md, "Events pushed to
the bot"): a body signed with a shared secret, so that the bot reads its feeds at once instead
of at the next scheduled poll. The call carries no data: the feeds stay the only source, so a
lost, late, repeated or replayed call changes nothing but timing.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "X-Casedesk-Signature"
TIMESTAMP_HEADER = "X-Casedesk-Timestamp"
#: A call signed further than this from the bot's clock is refused (seconds).
WINDOW = 300


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return f"sha256={mac.hexdigest()}"


def signed_headers(secret: str, body: bytes, now: float | None = None) -> dict[str, str]:
    timestamp = str(int(now if now is not None else time.time()))
    return {
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: sign(secret, timestamp, body),
        "Content-Type": "application/json",
    }


def verify(secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float) -> bool:
    if not timestamp or not signature or not timestamp.isascii() or not timestamp.isdigit():
        return False
    if len(timestamp) > 12 or abs(int(timestamp) - now) > WINDOW:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)
