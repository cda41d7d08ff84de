"""Authenticating requests from WeChat's servers, and the start-up check of the account's keys.

WeChat signs each request with SHA1 over the sorted (token, timestamp, nonce) — plus the
ciphertext in safe mode (``msg_signature``). It checks neither the age of a timestamp nor the
reuse of a nonce, so we do: a request outside the timestamp window is refused, and a nonce seen
again with another body is a replay (the plaintext signature does not cover the body). The same
nonce with the same body is WeChat retrying, which the engine answers from its record.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from enum import StrEnum

from sqlalchemy import delete, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.jobs.claims import rowcount
from bot.settings import Settings, WeChatMode
from bot.storage.models import SeenNonce

CHANNEL = "wechat"
_NONCE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
_AES_KEY = re.compile(r"^[A-Za-z0-9+/]{43}$")


class WeChatConfigError(ValueError):
    """The WeChat settings cannot work; raised at start-up, before any request arrives."""


def validate_settings(settings: Settings) -> None:
    """Refuse settings the webhook could not verify or decrypt with. Does nothing when WeChat is off."""
    if settings.wechat_token is None:
        return
    token = settings.wechat_token.get_secret_value()
    if not re.fullmatch(r"[A-Za-z0-9]{3,32}", token):
        raise WeChatConfigError("BOT_WECHAT_TOKEN must be 3 to 32 letters or digits (WeChat's rule)")
    if settings.wechat_mode is WeChatMode.PLAINTEXT:
        return
    mode = settings.wechat_mode.value
    if not settings.wechat_app_id:
        raise WeChatConfigError(
            f"BOT_WECHAT_APP_ID is required in {mode} mode (it is inside every ciphertext)"
        )
    if settings.wechat_encoding_aes_key is None:
        raise WeChatConfigError(f"BOT_WECHAT_ENCODING_AES_KEY is required in {mode} mode")
    aes_key_bytes(settings.wechat_encoding_aes_key.get_secret_value())


def aes_key_bytes(encoding_aes_key: str) -> bytes:
    """The 32-byte AES key an EncodingAESKey stands for (43 base64 characters, '=' left off)."""
    if not _AES_KEY.fullmatch(encoding_aes_key):
        raise WeChatConfigError(
            "BOT_WECHAT_ENCODING_AES_KEY must be the 43 letters, digits, '+' or '/' shown on the "
            "official account's server configuration page"
        )
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error as exc:
        raise WeChatConfigError("BOT_WECHAT_ENCODING_AES_KEY is not valid base64") from exc
    if len(key) != 32:
        raise WeChatConfigError("BOT_WECHAT_ENCODING_AES_KEY does not decode to a 32-byte key")
    return key


def _sha1_sorted(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode("utf-8"), usedforsecurity=False).hexdigest()


def signature(token: str, timestamp: str, nonce: str) -> str:
    """``signature``: SHA1 of the sorted token, timestamp and nonce (every request, GET and POST)."""
    return _sha1_sorted(token, timestamp, nonce)


def msg_signature(token: str, timestamp: str, nonce: str, encrypt: str) -> str:
    """``msg_signature`` of safe mode: the ciphertext is signed too."""
    return _sha1_sorted(token, timestamp, nonce, encrypt)


def same(expected: str, given: str | None) -> bool:
    """Constant-time comparison (a signature must not leak how much of it was right)."""
    return given is not None and hmac.compare_digest(expected.encode(), given.encode("utf-8", "replace"))


def valid_signature(token: str, timestamp: str, nonce: str, given: str | None) -> bool:
    return same(signature(token, timestamp, nonce), given)


def valid_msg_signature(token: str, timestamp: str, nonce: str, encrypt: str, given: str | None) -> bool:
    return same(msg_signature(token, timestamp, nonce, encrypt), given)


def fresh_timestamp(timestamp: str, now: datetime, window: int) -> bool:
    """A timestamp (seconds since the epoch) no further than ``window`` seconds from ``now``,
    either way: stale requests and requests from the far future are both refused."""
    if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 12:
        return False
    return abs(int(timestamp) - now.timestamp()) <= window


def well_formed_nonce(nonce: str) -> bool:
    return bool(_NONCE.fullmatch(nonce))


def body_digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


class NonceVerdict(StrEnum):
    NEW = "new"
    RETRY = "retry"  # the same request again: WeChat's own retry
    REPLAY = "replay"  # the same nonce with another body: refuse


async def check_nonce(
    session: AsyncSession,
    *,
    nonce: str,
    digest: str,
    now: datetime,
    window: int,
    channel: str = CHANNEL,
) -> NonceVerdict:
    """Record ``nonce`` with the digest of its request body, in the caller's transaction.

    A row older than the window belongs to a request whose timestamp would be refused now, so a
    new request may take its nonce over (the purge job has not removed it yet).
    """
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    added = await session.execute(
        insert(SeenNonce)
        .values(channel=channel, nonce=nonce, body_digest=digest, seen_at=now)
        .on_conflict_do_nothing(index_elements=["channel", "nonce"])
        .returning(SeenNonce.nonce)  # an ORM insert reports no rowcount on PostgreSQL
    )
    if added.first() is not None:
        return NonceVerdict.NEW
    seen = await session.scalar(
        select(SeenNonce).where(SeenNonce.channel == channel, SeenNonce.nonce == nonce).with_for_update()
    )
    if seen is None:  # purged between the two statements
        return await check_nonce(session, nonce=nonce, digest=digest, now=now, window=window, channel=channel)
    if hmac.compare_digest(seen.body_digest, digest):
        return NonceVerdict.RETRY
    if seen.seen_at < now - timedelta(seconds=window):
        await session.execute(
            update(SeenNonce)
            .where(SeenNonce.channel == channel, SeenNonce.nonce == nonce)
            .values(body_digest=digest, seen_at=now)
        )
        return NonceVerdict.NEW
    return NonceVerdict.REPLAY


async def purge_nonces(sessions: async_sessionmaker[AsyncSession], older_than: datetime) -> int:
    """Delete nonces seen before ``older_than`` (all channels); returns how many.

    Schedule it every few minutes with ``older_than = now - 2 * wechat_timestamp_window``: a
    nonce only matters while its timestamp is still accepted.
    """
    async with sessions.begin() as session:
        result = await session.execute(delete(SeenNonce).where(SeenNonce.seen_at < older_than))
        return rowcount(result)


def nonce_purge(sessions: async_sessionmaker[AsyncSession], window: int) -> Callable[[], Awaitable[int]]:
    """The periodic job: drop nonces (and late-reply marks) older than twice the window."""

    async def run() -> int:
        return await purge_nonces(sessions, datetime.now(UTC) - timedelta(seconds=2 * window))

    return run
