"""The volunteers' FAQ console at ``/admin``: sign-in, the FAQ list with search and 试问, the
edit page, history, the unanswered questions, and (reviewers) the audit log and accounts.

Every route but the sign-in page and the style sheet needs a signed-in account (``SignedIn``)
and every form its session's CSRF token (``checked_form``), both checked before anything is read
or changed; reviewers' actions are refused for volunteers by the server, not only hidden.
"""

from __future__ import annotations

import re
from dataclasses import replace
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, Response

from bot.admin import accounts, audit_log, messages
from bot.admin.accounts import Account, AccountError, SignIn
from bot.admin.forms import FaqForm, basis_text, statute_names
from bot.admin.session import PREFIX
from bot.admin.web import (
    ConsoleRoute,
    Refused,
    Reviewer,
    SignedIn,
    checked_form,
    current_account,
    end_session,
    field,
    flash,
    render,
    render_fragment,
    safe_next,
    see,
    sessions,
    start_session,
)
from bot.dialogs.replies import Replies
from bot.faq.drafts import ANSWER_MAX, Draft, DraftRefused
from bot.faq_library import misses
from bot.faq_library.library import Conflict, FaqDetail, Library, NotFound, TryResult
from bot.nlu.labels import DisputeCatalog, DisputeType
from bot.nlu.segment import Tokenizer
from bot.settings import Settings

STATIC = Path(__file__).resolve().parent.parent / "admin" / "static"
STATIC_FILES = {"console.css": "text/css", "console.js": "text/javascript"}
MAX_QUERY_CHARS = 200
MAX_ASK_CHARS = 500
MAX_MISS_IDS = 500
_SLUG = re.compile(r"[a-z0-9][a-z0-9_-]{2,79}")

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


# --- what the pages need from the running bot ---


def _library(request: Request) -> Library:
    library: Library = request.app.state.runtime.faq_library
    return library


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@cache
def _catalog(knowledge_dir: Path) -> DisputeCatalog:
    return DisputeCatalog.load(knowledge_dir)


async def _shared_tokenizer(request: Request) -> Tokenizer:
    """The bot's own word splitting, loaded once by the runtime."""
    return _library(request).tokenizer


def _types(request: Request) -> tuple[DisputeType, ...]:
    return _catalog(_settings(request).knowledge_dir).types


def _type_names(request: Request) -> dict[str | None, str]:
    return {t.code: t.name for t in _types(request)}


def _faq_url(slug: str) -> str:
    return f"{PREFIX}/faq/{quote(slug, safe='')}"


def _checked_slug(slug: str) -> str:
    if not _SLUG.fullmatch(slug):
        raise NotFound(slug)
    return slug


def _not_found(request: Request, account: Account) -> HTMLResponse:
    return render(request, "error.html", {"message": messages.NOT_FOUND}, account=account, status_code=404)


# --- static files (no data: the sign-in page needs them too) ---


@router.get("/static/{name}")
async def static_file(name: str) -> Response:
    media_type = STATIC_FILES.get(name)
    if media_type is None:
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(
        STATIC / name, media_type=media_type, headers={"cache-control": "public, max-age=300"}
    )


# --- signing in and out ---


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    if await current_account(request) is not None:
        return see(safe_next(next))
    context = {"next": safe_next(next), "error": None, "username": ""}
    return render(request, "login.html", context, account=None)


@router.post("/login")
async def login(request: Request) -> Response:
    form = await checked_form(request)
    username = field(form, "username")[:64]
    password = form.get("password")
    target = safe_next(field(form, "next"))
    if not username or not isinstance(password, str) or not password:
        error = messages.SIGN_IN_MISSING
    else:
        result = await accounts.sign_in(sessions(request), username, password)
        if result.outcome is SignIn.OK and result.account is not None:
            await start_session(request, result.account)
            return see(target)
        if result.outcome is SignIn.LOCKED and result.locked_until is not None:
            zone = ZoneInfo(_settings(request).timezone)
            error = messages.SIGN_IN_LOCKED.format(until=f"{result.locked_until.astimezone(zone):%H:%M}")
        else:
            error = messages.SIGN_IN_WRONG
    context = {"next": target, "error": error, "username": username}
    return render(request, "login.html", context, account=None, status_code=401)


@router.post("/logout")
async def logout(request: Request) -> Response:
    account = await current_account(request)
    if account is not None:
        await checked_form(request)
        await accounts.record_sign_out(sessions(request), account.username)
    await end_session(request)
    flash(request, "ok", messages.SIGNED_OUT)
    return see(f"{PREFIX}/login")


# --- the FAQ list and 试问 ---


def _try_context(
    request: Request,
    *,
    ask: str = "",
    ask_type: str = "",
    tried: TryResult | None = None,
    slug: str | None = None,
) -> dict[str, Any]:
    return {
        "ask": ask,
        "ask_type": ask_type,
        "tried": tried,
        "this_slug": slug,
        "dispute_types": _types(request),
        "type_names": _type_names(request),
    }


async def _try(request: Request, ask: str, ask_type: str) -> TryResult | None:
    """试问 is the live bot: the question is normalised and classified by the same NLU, and the
    FAQs searched with the same type, threshold and index as a resident's question (a volunteer
    may still pick the type by hand)."""
    ask = ask.strip()[:MAX_ASK_CHARS]
    if not ask:
        return None
    known = ask_type if ask_type in _type_names(request) else None
    if known is None:
        nlu = await request.app.state.runtime.nlu.classifier.classify(ask)
        return await _library(request).try_question(nlu.text, dispute_type=nlu.dispute_type)
    return await _library(request).try_question(ask, dispute_type=known)


@router.get("")
@router.get("/")
async def faq_list(
    request: Request,
    account: SignedIn,
    q: str = "",
    type: str = "",
    status: str = "",
    stale: str = "",
) -> Response:
    library = _library(request)
    q = q.strip()[:MAX_QUERY_CHARS]
    type_names = _type_names(request)
    faqs = await library.list(
        query=q or None,
        dispute_type=type if type in type_names else None,
        status=status if status in messages.STATUS_LABELS else None,
        stale_only=bool(stale),
    )
    context = {
        **_try_context(request),
        "faqs": faqs,
        "q": q,
        "type": type,
        "status": status,
        "stale": bool(stale),
        "stale_count": sum(1 for faq in faqs if faq.stale),
        "statuses": list(messages.STATUS_LABELS.items()),
        "type_names": type_names,
    }
    return render(request, "faq_list.html", context, account=account)


@router.get("/try")
async def try_page(
    request: Request, account: SignedIn, ask: str = "", ask_type: str = "", slug: str = "", fragment: str = ""
) -> Response:
    tried = await _try(request, ask, ask_type)
    context = _try_context(
        request, ask=ask, ask_type=ask_type, tried=tried, slug=slug if _SLUG.fullmatch(slug) else None
    )
    if fragment:
        html = render_fragment("_try_results.html", context) if tried else ""
        return HTMLResponse(html)
    return render(request, "try.html", context, account=account)


# --- new FAQ and the edit page ---


def _preview(request: Request, draft: Draft) -> dict[str, Any]:
    """The answer as residents will see it: the bot's own reply text (``faq.answer``)."""
    replies: Replies = request.app.state.replies
    template = replies.template("faq.answer")
    return {
        "preview_template": replies.text("faq.answer", answer="{answer}", basis="{basis}"),
        "preview_text": replies.text(
            "faq.answer", answer=draft.answer.strip(), basis=basis_text(draft) or "—"
        ),
        "preview_options": template.options,
        "centre": replies.centre.name,
    }


def _edit_page(
    request: Request,
    account: Account,
    form: FaqForm,
    *,
    detail: FaqDetail | None,
    reasons: list[str] | None = None,
    conflict: str | None = None,
    warnings: list[str] | None = None,
    miss_ids: str = "",
    tried: TryResult | None = None,
    ask: str = "",
    ask_type: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    draft = form.draft()
    settings = _settings(request)
    context = {
        **_try_context(
            request, ask=ask, ask_type=ask_type, tried=tried, slug=detail.summary.slug if detail else None
        ),
        **_preview(request, draft),
        "form": form,
        "detail": detail,
        "reasons": reasons or [],
        "refused_title": messages.REFUSED,
        "conflict": conflict,
        "warnings": warnings or [],
        "miss_ids": miss_ids,
        "answer_max": ANSWER_MAX,
        "answer_length": len(draft.answer.strip()),
        "statute_names": statute_names(settings.knowledge_dir),
    }
    return render(request, "faq_edit.html", context, account=account, status_code=status_code)


def _miss_ids(text: str) -> list[int]:
    ids = [int(part) for part in text.split(",") if part.strip().isdigit() and len(part.strip()) < 12]
    return list(dict.fromkeys(ids))[:MAX_MISS_IDS]


@router.get("/faq/new")
async def new_faq_page(request: Request, account: SignedIn, miss: str = "") -> Response:
    ids = _miss_ids(miss)
    form = FaqForm()
    if ids:
        try:
            tokenizer = await _shared_tokenizer(request)
            form = FaqForm.from_draft(await misses.prefill(sessions(request), ids, tokenizer))
        except KeyError:  # those questions are gone: start from an empty form
            ids = []
    return _edit_page(request, account, form, detail=None, miss_ids=",".join(map(str, ids)))


@router.post("/faq/new")
async def create_faq(request: Request, account: SignedIn) -> Response:
    posted = await checked_form(request)
    form = FaqForm.from_post(posted)
    ids = _miss_ids(field(posted, "miss"))
    try:
        slug = await _library(request).create(
            form.draft(), actor=account.actor, slug=form.slug or None, from_miss=ids or None
        )
    except DraftRefused as refused:
        return _edit_page(
            request,
            account,
            form,
            detail=None,
            reasons=refused.reasons,
            miss_ids=",".join(map(str, ids)),
            status_code=422,
        )
    flash(request, "ok", messages.CREATED)
    return see(_faq_url(slug))


@router.get("/faq/{slug}")
async def edit_page(
    request: Request, slug: str, account: SignedIn, ask: str = "", ask_type: str = ""
) -> Response:
    library = _library(request)
    try:
        detail = await library.get(_checked_slug(slug))
    except NotFound:
        return _not_found(request, account)
    form = FaqForm.from_draft(detail.latest.draft, base=detail.latest.number, slug=slug)
    tried = await _try(request, ask, ask_type)
    warnings = library.check(detail.latest.draft)
    return _edit_page(
        request, account, form, detail=detail, warnings=warnings, tried=tried, ask=ask, ask_type=ask_type
    )


@router.post("/faq/{slug}")
async def save_faq(request: Request, slug: str, account: SignedIn) -> Response:
    posted = await checked_form(request)
    action = field(posted, "action") or "save"
    if action not in ("save", "submit", "publish"):
        raise Refused(messages.BAD_ACTION)
    if action == "publish" and not account.is_reviewer:
        raise Refused(messages.REVIEWER_ONLY)
    library = _library(request)
    try:
        detail = await library.get(_checked_slug(slug))
    except NotFound:
        return _not_found(request, account)
    form = replace(FaqForm.from_post(posted), slug=slug)
    if form.base is None:
        raise Refused(messages.BAD_ACTION)
    try:
        number = await library.save(
            slug, form.draft(), actor=account.actor, expected_number=form.base, note=form.note or None
        )
    except Conflict as conflict:
        latest = await library.get(slug)
        text = messages.CONFLICT.format(who=latest.latest.author, number=conflict.latest_number)
        return _edit_page(request, account, form, detail=latest, conflict=text, status_code=409)
    except DraftRefused as refused:
        return _edit_page(request, account, form, detail=detail, reasons=refused.reasons, status_code=422)
    saved = number != detail.latest.number
    try:
        if action == "submit":
            await library.submit(slug, actor=account.actor)
            flash(request, "ok", messages.SUBMITTED)
        elif action == "publish":
            await library.publish(slug, actor=account.actor)
            flash(request, "ok", messages.PUBLISHED)
        else:
            flash(request, "ok", messages.SAVED.format(number=number) if saved else messages.NOTHING_CHANGED)
    except DraftRefused as refused:
        flash(request, "error", "；".join(refused.reasons))
    return see(_faq_url(slug))


async def _state_change(request: Request, slug: str, account: Account, action: str) -> Response:
    posted = await checked_form(request)
    library = _library(request)
    try:
        detail = await library.get(_checked_slug(slug))
    except NotFound:
        return _not_found(request, account)
    base = field(posted, "base")
    if base != str(detail.latest.number):
        flash(request, "error", messages.STALE_ACTION.format(number=detail.latest.number))
        return see(_faq_url(slug))
    actor = account.actor
    try:
        if action == "unpublish":
            await library.unpublish(slug, actor=actor)
            flash(request, "ok", messages.UNPUBLISHED)
        elif action == "retire":
            await library.retire(slug, actor=actor)
            flash(request, "ok", messages.RETIRED)
        else:
            await library.confirm_reviewed(slug, actor=actor)
            flash(request, "ok", messages.CONFIRMED)
    except DraftRefused as refused:
        flash(request, "error", "；".join(refused.reasons))
    return see(_faq_url(slug))


@router.post("/faq/{slug}/unpublish")
async def unpublish_faq(request: Request, slug: str, account: Reviewer) -> Response:
    return await _state_change(request, slug, account, "unpublish")


@router.post("/faq/{slug}/retire")
async def retire_faq(request: Request, slug: str, account: Reviewer) -> Response:
    return await _state_change(request, slug, account, "retire")


@router.post("/faq/{slug}/confirm")
async def confirm_faq(request: Request, slug: str, account: Reviewer) -> Response:
    return await _state_change(request, slug, account, "confirm")


# --- history ---


@router.get("/faq/{slug}/history")
async def history_page(request: Request, slug: str, account: SignedIn) -> Response:
    library = _library(request)
    try:
        detail = await library.get(_checked_slug(slug))
        versions = await library.history(slug)
    except NotFound:
        return _not_found(request, account)
    entries = []
    for position, version in enumerate(versions):  # newest first
        older = versions[position + 1] if position + 1 < len(versions) else None
        lines = None if older is None else [ln for ln in library.diff(older, version) if ln.kind != "same"]
        entries.append((version, lines))
    return render(request, "faq_history.html", {"detail": detail, "entries": entries}, account=account)


@router.post("/faq/{slug}/restore")
async def restore_version(request: Request, slug: str, account: SignedIn) -> Response:
    posted = await checked_form(request)
    number_text = field(posted, "number")
    if not number_text.isdigit() or len(number_text) > 9:
        raise Refused(messages.BAD_ACTION)
    try:
        number = await _library(request).restore(_checked_slug(slug), int(number_text), actor=account.actor)
    except NotFound:
        return _not_found(request, account)
    flash(request, "ok", messages.RESTORED.format(old=number_text, number=number))
    return see(_faq_url(slug))


# --- unanswered questions ---


@router.get("/misses")
async def misses_page(request: Request, account: SignedIn) -> Response:
    groups = await misses.groups(sessions(request), await _shared_tokenizer(request))
    context = {"groups": groups, "type_names": _type_names(request)}
    return render(request, "misses.html", context, account=account)


@router.post("/misses/dismiss")
async def dismiss_misses(request: Request, account: SignedIn) -> Response:
    posted = await checked_form(request)
    ids = _miss_ids(field(posted, "ids"))
    reason = field(posted, "reason")[:500]
    if not ids:
        flash(request, "error", messages.NOTHING_SELECTED)
    elif not reason:
        flash(request, "error", messages.DISMISS_NEEDS_REASON)
    else:
        try:
            count = await misses.dismiss(sessions(request), ids, actor=account.actor, reason=reason)
        except DraftRefused as refused:
            flash(request, "error", "；".join(refused.reasons))
        else:
            flash(request, "ok", messages.DISMISSED.format(count=count))
    return see(f"{PREFIX}/misses")


# --- reviewers: the audit log and accounts ---


@router.get("/audit")
async def audit_page(request: Request, account: Reviewer, page: int = 1) -> Response:
    page = min(max(page, 1), 100_000)
    events, more = await audit_log.page(sessions(request), page)
    return render(request, "audit.html", {"events": events, "page": page, "more": more}, account=account)


async def _users_page(
    request: Request,
    account: Account,
    *,
    error: str | None = None,
    new_username: str = "",
    status_code: int = 200,
) -> HTMLResponse:
    users = await accounts.list_users(sessions(request))
    now = datetime.now(UTC)
    locked = {u.username for u in users if u.locked_until is not None and u.locked_until > now}
    context = {
        "users": users,
        "locked": locked,
        "error": error,
        "new_username": new_username,
        "min_password": accounts.MIN_PASSWORD_CHARS,
    }
    return render(request, "users.html", context, account=account, status_code=status_code)


@router.get("/users")
async def users_page(request: Request, account: Reviewer) -> Response:
    return await _users_page(request, account)


@router.post("/users")
async def create_user(request: Request, account: Reviewer) -> Response:
    posted = await checked_form(request)
    username = field(posted, "username")[:64]
    password = posted.get("password")
    try:
        created = await accounts.create_user(
            sessions(request),
            username,
            password if isinstance(password, str) else "",
            field(posted, "role"),
            actor=account.username,
        )
    except AccountError as error:
        return await _users_page(request, account, error=str(error), new_username=username, status_code=422)
    role = messages.ROLE_LABELS[created.role.value]
    flash(request, "ok", messages.USER_CREATED.format(username=created.username, role=role))
    return see(f"{PREFIX}/users")


@router.post("/users/{username}/role")
async def change_role(request: Request, username: str, account: Reviewer) -> Response:
    posted = await checked_form(request)
    try:
        changed = await accounts.set_role(
            sessions(request), username, field(posted, "role"), actor=account.username
        )
    except AccountError as error:
        flash(request, "error", str(error))
    else:
        role = messages.ROLE_LABELS[changed.role.value]
        flash(request, "ok", messages.ROLE_CHANGED.format(username=changed.username, role=role))
    return see(f"{PREFIX}/users")


@router.post("/users/{username}/active")
async def change_active(request: Request, username: str, account: Reviewer) -> Response:
    posted = await checked_form(request)
    active = field(posted, "active") == "1"
    if not active and username == account.username:
        flash(request, "error", messages.NOT_YOURSELF)
        return see(f"{PREFIX}/users")
    try:
        await accounts.set_active(sessions(request), username, active, actor=account.username)
    except AccountError as error:
        flash(request, "error", str(error))
    else:
        text = messages.USER_ACTIVATED if active else messages.USER_DEACTIVATED
        flash(request, "ok", text.format(username=username))
    return see(f"{PREFIX}/users")
