"""The console's sessions and page headers: a signed cookie (Starlette's ``SessionMiddleware``)
that only exists under ``/admin``, a per-session CSRF token, and security headers on every
console response.

The signing secret is ``BOT_ADMIN_SESSION_SECRET``; when unset, one is generated at the first
start and kept in ``<data_dir>/admin-session-secret`` (readable by the bot's user only), so
sessions survive a restart.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from pathlib import Path

from starlette.datastructures import MutableHeaders
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from bot.settings import Environment, Settings

PREFIX = "/admin"
COOKIE = "admin_session"
SESSION_HOURS = 12
SECRET_FILE = "admin-session-secret"  # noqa: S105 - a file name, not a secret
MIN_SECRET_CHARS = 32

PAGE_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-frame-options": "DENY",
    "x-content-type-options": "nosniff",
    "referrer-policy": "same-origin",
}


def session_secret(settings: Settings) -> str:
    """The configured secret, or the one kept in the data directory (made at the first start)."""
    if settings.admin_session_secret is not None:
        return settings.admin_session_secret.get_secret_value()
    path: Path = settings.data_dir / SECRET_FILE
    if path.exists():
        kept = path.read_text(encoding="utf-8").strip()
        if len(kept) >= MIN_SECRET_CHARS:
            return kept
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_urlsafe(48)
    # Created with 0600 from the start: the secret is never readable by others, not even briefly.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, stat.S_IRUSR | stat.S_IWUSR)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secret)
    os.chmod(path, stat.S_IRUSR | stat.S_IWUSR)
    return secret


def secure_cookies(settings: Settings) -> bool:
    if settings.admin_secure_cookies is None:
        return settings.env is Environment.PRODUCTION
    return settings.admin_secure_cookies


def is_console(path: str) -> bool:
    return path == PREFIX or path.startswith(PREFIX + "/")


class ConsoleGate:
    """Sessions and security headers for ``/admin``; every other path passes straight through
    (the residents' pages never see, set or read the console's cookie)."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.with_sessions = SessionMiddleware(
            app,
            secret_key=session_secret(settings),
            session_cookie=COOKIE,
            max_age=SESSION_HOURS * 3600,
            path=PREFIX,
            same_site="lax",
            https_only=secure_cookies(settings),
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not is_console(scope["path"]):
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in PAGE_HEADERS.items():
                    headers.setdefault(name, value)
                # Pages hold residents' words and unpublished drafts: never kept by a browser or proxy.
                headers.setdefault("cache-control", "no-store")
            await send(message)

        await self.with_sessions(scope, receive, send_with_headers)


def csrf_token(request: Request) -> str:
    """The session's CSRF token (made on first use); every form carries it."""
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


def csrf_matches(request: Request, given: object) -> bool:
    expected = request.session.get("csrf")
    return (
        isinstance(expected, str)
        and len(expected) >= 32
        and isinstance(given, str)
        and hmac.compare_digest(expected.encode(), given.encode())
    )
