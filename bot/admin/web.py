"""What every console page shares: who is signed in, the CSRF-checked form, rendering with
auto-escaping, and the refusals (signed out → the sign-in page; forged form or wrong role → 403).

A signed-out visitor gets a redirect to ``/admin/login`` from every page and every form, and
nothing else: the refusal happens before any handler reads data.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import jinja2
from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import FormData

from bot.admin import messages
from bot.admin.accounts import Account, load_account
from bot.admin.server_sessions import close_session, open_session, session_user
from bot.admin.session import PREFIX, csrf_matches, csrf_token
from bot.faq.actors import NotAllowed
from bot.storage.db import sessions as make_sessions

TEMPLATES = Path(__file__).resolve().parent / "templates"
MAX_FORM_FIELDS = 120

_env = jinja2.Environment(
    loader=jinja2.FileSystemLoader(TEMPLATES),
    autoescape=True,  # everything rendered is escaped; no template uses |safe
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.globals.update(
    status_label=lambda code: messages.STATUS_LABELS.get(code, code),
    role_label=lambda code: messages.ROLE_LABELS.get(str(code), str(code)),
    audit_label=lambda code: messages.AUDIT_LABELS.get(code, code),
)


class SignedOut(Exception):
    """The page needs a signed-in account."""


class Refused(Exception):
    """403: a forged or missing CSRF token, or an action the account's role does not allow (or
    503: the FAQ library is not running)."""

    def __init__(self, message: str, *, status_code: int = 403) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code


def sessions(request: Request) -> async_sessionmaker[AsyncSession]:
    made: async_sessionmaker[AsyncSession] | None = getattr(request.app.state, "admin_sessions", None)
    if made is None:
        made = make_sessions(request.app.state.runtime.database)
        request.app.state.admin_sessions = made
    return made


async def current_account(request: Request) -> Account | None:
    token = request.session.get("sid")
    if not isinstance(token, str):
        request.session.clear()
        return None
    user_id = await session_user(sessions(request), token)
    if user_id is None or user_id != request.session.get("uid"):
        request.session.clear()  # signed out, revoked or idle: a copied cookie opens nothing
        return None
    account = await load_account(sessions(request), user_id)
    # A deactivated account, or a changed password, ends every session of the account.
    if account is None or not secrets.compare_digest(account.auth_version, str(request.session.get("auth"))):
        request.session.clear()
        return None
    return account


async def require_account(request: Request) -> Account:
    account = await current_account(request)
    if account is None:
        raise SignedOut
    if account.is_reviewer:
        # The reviewer's menu shows how many submitted FAQs wait for them, on every page.
        request.state.awaiting_review = await request.app.state.runtime.faq_library.awaiting_review()
    return account


async def require_reviewer(request: Request) -> Account:
    account = await require_account(request)
    if not account.is_reviewer:
        raise Refused(messages.REVIEWER_ONLY)
    return account


SignedIn = Annotated[Account, Depends(require_account)]
Reviewer = Annotated[Account, Depends(require_reviewer)]


async def start_session(request: Request, account: Account) -> None:
    """A fresh session (new CSRF token), held on the server, for an account that just signed in."""
    request.session.clear()
    token = await open_session(sessions(request), account.id)
    request.session.update(
        {"uid": account.id, "sid": token, "auth": account.auth_version, "csrf": secrets.token_urlsafe(32)}
    )


async def end_session(request: Request) -> None:
    """Sign out: the session is revoked on the server, not only forgotten by this browser."""
    token = request.session.get("sid")
    if isinstance(token, str):
        await close_session(sessions(request), token)
    request.session.clear()


async def checked_form(request: Request) -> FormData:
    """The posted form, only when it carries this session's CSRF token."""
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    if not csrf_matches(request, form.get("csrf")):
        raise Refused(messages.CSRF_REFUSED)
    return form


def field(form: FormData, name: str) -> str:
    value = form.get(name)
    return value.strip() if isinstance(value, str) else ""


def safe_next(target: str | None) -> str:
    """Only a console path on this site (never ``//host``, a scheme, or another part of the app)."""
    if not target or "\\" in target or target.startswith("//"):
        return PREFIX
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not (parts.path == PREFIX or parts.path.startswith(PREFIX + "/")):
        return PREFIX
    return target


def see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def flash(request: Request, kind: str, text: str) -> None:
    flashes = request.session.get("flash")
    if not isinstance(flashes, list):
        flashes = []
    flashes.append([kind, text])
    request.session["flash"] = flashes[-5:]


def _local(zone: ZoneInfo) -> Callable[[datetime | None], str]:
    def local(moment: datetime | None) -> str:
        if moment is None:
            return ""
        if moment.tzinfo is None:  # SQLite returns naive datetimes; they are UTC
            moment = moment.replace(tzinfo=UTC)
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    return local


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    account: Account | None,
    status_code: int = 200,
) -> HTMLResponse:
    zone = ZoneInfo(request.app.state.settings.timezone)
    flashes = request.session.pop("flash", None) or []
    page = _env.get_template(name).render(
        {
            "account": account,
            "csrf": csrf_token(request),
            "flashes": flashes,
            "when": _local(zone),
            "path": request.url.path,
            "awaiting_review": getattr(request.state, "awaiting_review", 0),
            "listing": request.query_params.get("status", ""),
            **context,
        }
    )
    return HTMLResponse(page, status_code=status_code)


def render_fragment(name: str, context: dict[str, Any]) -> str:
    return _env.get_template(name).render(context)


def login_redirect(request: Request) -> RedirectResponse:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        target = PREFIX
    return see(f"{PREFIX}/login?next={quote(target, safe='')}")


class ConsoleRoute(APIRoute):
    """Turns the console's refusals into responses: every route of the router gets the same
    treatment, and the app needs no exception handlers of its own."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def guarded(request: Request) -> Response:
            try:
                return await handler(request)
            except SignedOut:
                return login_redirect(request)
            except (Refused, NotAllowed) as refusal:
                message, status_code = (
                    (refusal.message, refusal.status_code)
                    if isinstance(refusal, Refused)
                    else (messages.REVIEWER_ONLY, 403)
                )
                account = await current_account(request)
                context = {"message": message}
                return render(request, "error.html", context, account=account, status_code=status_code)

        return guarded
