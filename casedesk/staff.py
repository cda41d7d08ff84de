"""The staff's pages (server-rendered, simplified Chinese): sign-in, the queue, a case, the
handoff inbox. Not part of the API schema.

Sessions live in a signed cookie (Starlette's ``SessionMiddleware``, secret from settings); every
form carries the session's CSRF token; pages are sent with a strict Content-Security-Policy
(scripts from /static only), and templates escape everything (autoescape, no ``|safe``).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote, urlsplit
from zoneinfo import ZoneInfo

import jinja2
from fastapi import APIRouter, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from starlette.datastructures import FormData

from backend_client.models import FINAL_STEPS, Step
from casedesk.accounts import SignIn, StaffInfo, load_staff, sign_in
from casedesk.db import CaseRow, HandoffRow, utcnow
from casedesk.errors import DeskError
from casedesk.labels import (
    CHANNEL_LABELS,
    DEPARTMENTS,
    HANDOFF_STATUS_LABELS,
    RESIDENT_CASES,
    SENDER_LABELS,
    STEP_LABELS,
    cases_count_label,
    categories_label,
    dispute_label,
    step_label,
)
from casedesk.settings import Settings
from casedesk.store import Desk, Queue, allowed_steps

TEMPLATES = Path(__file__).resolve().parent / "templates"
STATIC = Path(__file__).resolve().parent / "static"
MAX_NOTE_CHARS = 2000
MAX_REPLY_CHARS = 5000
MAX_FORM_FIELDS = 20


class SignedOut(Exception):
    """The page needs a signed-in staff member."""


class CsrfRefused(Exception):
    """A form without the session's CSRF token."""


def age(then: datetime, now: datetime | None = None) -> str:
    seconds = max(0, int(((now or utcnow()) - then).total_seconds()))
    if seconds < 60:
        return "不到1分钟"
    if seconds < 3600:
        return f"{seconds // 60}分钟"
    if seconds < 86400:
        hours, minutes = divmod(seconds // 60, 60)
        return f"{hours}小时{minutes}分钟" if minutes and hours < 6 else f"{hours}小时"
    return f"{seconds // 86400}天"


def mask_phone(phone: str) -> str:
    """138****5678: how lists show a phone number (the case and handoff pages show it whole)."""
    digits = phone.replace("-", "").replace(" ", "")
    if len(digits) < 7:
        return "*" * len(digits)
    return f"{digits[:3]}****{digits[-4:]}"


def cases_summary(cases: list[CaseRow]) -> dict[str, Any]:
    """A resident's cases in the compact form of a list item: how many, and the masked phone of
    the newest case that holds one (the resident consented to leave it when filing)."""
    phone = next((case.reporter_phone for case in cases if case.reporter_phone), None)
    return {
        "count": len(cases),
        "label": cases_count_label(len(cases)),
        "phone": mask_phone(phone) if phone else None,
    }


def build_templates(settings: Settings) -> Jinja2Templates:
    zone = ZoneInfo(settings.timezone)
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, undefined=jinja2.StrictUndefined
    )

    def local(value: datetime | str | None) -> str:
        if value is None:
            return ""
        if isinstance(value, str):
            try:
                moment = datetime.fromisoformat(value)
            except ValueError:
                return value
        else:
            moment = value
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M")

    def day(value: datetime) -> str:
        return value.astimezone(zone).strftime("%Y-%m-%d")

    env.filters.update(
        local=local,
        day=day,
        age=age,
        step=step_label,
        dispute=dispute_label,
        categories=categories_label,
        channel=lambda code: CHANNEL_LABELS.get(code, code),
        handoff_status=lambda code: HANDOFF_STATUS_LABELS.get(code, code),
        sender=lambda code: SENDER_LABELS.get(code, code),
    )
    env.globals["resident_cases_text"] = RESIDENT_CASES
    return Jinja2Templates(env=env)


def _desk(request: Request) -> Desk:
    desk: Desk = request.app.state.desk
    return desk


def _safe_next(target: str | None) -> str:
    """Only a path on this site (never ``//host`` or a scheme)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/queue"
    parts = urlsplit(target)
    if parts.scheme or parts.netloc:
        return "/queue"
    return target


async def current_staff(request: Request) -> StaffInfo | None:
    staff_id = request.session.get("staff_id")
    if not isinstance(staff_id, int):
        return None
    staff = await load_staff(_desk(request).engine, staff_id)
    if staff is None or staff.auth_version != request.session.get("auth"):
        request.session.clear()
        return None
    return staff


async def require_staff(request: Request) -> StaffInfo:
    staff = await current_staff(request)
    if staff is None:
        raise SignedOut
    return staff


StaffMember = Annotated[StaffInfo, Depends(require_staff)]


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not isinstance(token, str) or len(token) < 32:
        token = secrets.token_urlsafe(32)
        request.session["csrf"] = token
    return token


async def checked_form(request: Request) -> FormData:
    form = await request.form(max_files=0, max_fields=MAX_FORM_FIELDS)
    expected = request.session.get("csrf")
    given = form.get("csrf")
    if (
        not isinstance(expected, str)
        or not isinstance(given, str)
        or not hmac.compare_digest(expected.encode(), given.encode())
    ):
        raise CsrfRefused
    return form


def _field(form: FormData, name: str, *, limit: int) -> str:
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    return value.strip()[:limit]


def flash(request: Request, kind: str, text: str) -> None:
    flashes = request.session.get("flash")
    if not isinstance(flashes, list):
        flashes = []
    flashes.append([kind, text])
    request.session["flash"] = flashes[-5:]


async def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    staff: StaffInfo | None,
    status_code: int = 200,
) -> HTMLResponse:
    templates: Jinja2Templates = request.app.state.templates
    flashes = request.session.pop("flash", None) or []
    waiting = await _desk(request).waiting_count() if staff else 0
    response = templates.TemplateResponse(
        request,
        name,
        {
            "staff": staff,
            "csrf": csrf_token(request),
            "flashes": flashes,
            "waiting": waiting,
            "now": utcnow(),
            **context,
        },
        status_code=status_code,
    )
    response.headers["cache-control"] = "no-store"
    return response


def _see(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/favicon.ico")
async def favicon() -> FileResponse:
    return FileResponse(STATIC / "favicon.svg", media_type="image/svg+xml")


@router.get("/")
async def home() -> RedirectResponse:
    return _see("/queue")


# --- signing in and out ---


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    if await current_staff(request) is not None:
        return _see(_safe_next(next))
    return await render(
        request, "login.html", {"next": _safe_next(next), "error": None, "username": ""}, staff=None
    )


@router.post("/login")
async def login(request: Request) -> Response:
    form = await checked_form(request)
    username = _field(form, "username", limit=64)
    password = form.get("password")
    target = _safe_next(_field(form, "next", limit=500))
    if not username or not isinstance(password, str) or not password:
        error = "请输入用户名和密码"
        result = None
    else:
        result = await sign_in(_desk(request).engine, username, password[:1024])
        error = None
    if result is not None and result.outcome is SignIn.OK and result.staff is not None:
        request.session.clear()
        request.session.update(
            {
                "staff_id": result.staff.id,
                "auth": result.staff.auth_version,
                "csrf": secrets.token_urlsafe(32),
            }
        )
        return _see(target)
    if result is not None and result.outcome is SignIn.LOCKED:
        zone = ZoneInfo(_desk(request).settings.timezone)
        until = (result.locked_until or utcnow() + timedelta(minutes=15)).astimezone(zone)
        error = f"登录失败次数过多，账号已锁定，请于 {until:%H:%M} 后再试"
    elif error is None:
        error = "用户名或密码错误"
    context = {"next": target, "error": error, "username": username}
    return await render(request, "login.html", context, staff=None, status_code=401)


@router.post("/logout")
async def logout(request: Request) -> Response:
    await checked_form(request)
    request.session.clear()
    return _see("/login")


# --- the queue and a case ---


@router.get("/queue")
async def queue_page(request: Request, staff: StaffMember) -> Response:
    desk = _desk(request)
    queue = await desk.queue()
    found = await desk.residents_cases((h.channel, h.resident_ref) for _, h in queue.urgent)
    cases = {h.id: cases_summary(found[(h.channel, h.resident_ref)]) for _, h in queue.urgent}
    context = {"queue": queue, "stamp": _stamp(queue), "resident_cases": cases}
    return await render(request, "queue.html", context, staff=staff)


def _stamp(queue: Queue) -> str:
    """Something that changes whenever the queue does (the page reloads when it sees a change)."""
    parts = [f"u{e.id}:{h.status}:{h.taken_by}" for e, h in queue.urgent]
    parts += [f"c{c.id}:{c.step}:{c.department}" for c in queue.new + queue.rest]
    return hashlib.sha256("|".join(parts).encode()).hexdigest()[:16]


@router.get("/queue.json")
async def queue_stamp(request: Request, staff: StaffMember) -> JSONResponse:
    queue = await _desk(request).queue()
    return JSONResponse({"stamp": _stamp(queue)}, headers={"cache-control": "no-store"})


@dataclass(frozen=True)
class StepOption:
    code: str
    label: str


@router.get("/case/{case_no}")
async def case_page(request: Request, case_no: str, staff: StaffMember) -> Response:
    try:
        detail = await _desk(request).case_detail(case_no)
    except DeskError:
        return await render(
            request, "error.html", {"message": f"没有案件 {case_no}"}, staff=staff, status_code=404
        )
    step = Step(detail.case.step)
    options = [StepOption(s.value, STEP_LABELS[s]) for s in allowed_steps(step)]
    context = {
        "detail": detail,
        "case": detail.case,
        "final": step in FINAL_STEPS,
        "step_options": options,
        "departments": DEPARTMENTS,
    }
    return await render(request, "case.html", context, staff=staff)


def _case_url(case_no: str) -> str:
    return f"/case/{quote(case_no, safe='')}"


def _step(value: str) -> Step | None:
    try:
        return Step(value)
    except ValueError:
        return None


@router.post("/case/{case_no}/step")
async def move_case(request: Request, case_no: str, staff: StaffMember) -> Response:
    form = await checked_form(request)
    to = _step(_field(form, "step", limit=32))
    current = _step(_field(form, "current", limit=32))
    note = _field(form, "note", limit=MAX_NOTE_CHARS) or None
    if to is None or current is None:
        flash(request, "error", "请选择下一步")
    else:
        try:
            await _desk(request).move_case(
                case_no, to=to, expected=current, public_note=note, staff=staff.display_name
            )
            flash(request, "ok", f"已转到「{STEP_LABELS[to]}」")
        except DeskError as error:
            flash(request, "error", error.detail)
    return _see(_case_url(case_no))


@router.post("/case/{case_no}/close")
async def close_case(request: Request, case_no: str, staff: StaffMember) -> Response:
    form = await checked_form(request)
    current = _step(_field(form, "current", limit=32))
    note = _field(form, "note", limit=MAX_NOTE_CHARS) or None
    if current is None:
        flash(request, "error", "请刷新页面后重试")
    else:
        try:
            await _desk(request).move_case(
                case_no, to=Step.CLOSED, expected=current, public_note=note, staff=staff.display_name
            )
            flash(request, "ok", "已结案（案结事了）")
        except DeskError as error:
            flash(request, "error", error.detail)
    return _see(_case_url(case_no))


@router.post("/case/{case_no}/department")
async def assign_department(request: Request, case_no: str, staff: StaffMember) -> Response:
    form = await checked_form(request)
    department = _field(form, "department", limit=32)
    if department not in DEPARTMENTS:
        flash(request, "error", "请选择承办部门")
        return _see(_case_url(case_no))
    try:
        changed = await _desk(request).assign_department(case_no, department, staff=staff.display_name)
        flash(request, "ok", f"已指派：{department}" if changed else f"承办部门已是{department}")
    except DeskError as error:
        flash(request, "error", error.detail)
    return _see(_case_url(case_no))


@router.get("/case/{case_no}/attachment/{attachment_id}")
async def attachment_file(request: Request, case_no: str, attachment_id: int, staff: StaffMember) -> Response:
    desk = _desk(request)
    try:
        row = await desk.attachment(case_no, attachment_id)
    except DeskError:
        return Response("not found", status_code=404, media_type="text/plain")
    return FileResponse(
        desk.settings.attachments_dir / row.storage_name,
        media_type=row.content_type,
        headers={"cache-control": "private, no-store", "x-content-type-options": "nosniff"},
        content_disposition_type="inline",
        filename=row.filename,
    )


# --- the handoff inbox ---


def _inbox_item(row: HandoffRow, cases: list[CaseRow]) -> dict[str, Any]:
    return {
        "id": row.id,
        "url": f"/inbox/{row.id}",
        "urgent": row.urgent,
        "status": row.status,
        "status_label": HANDOFF_STATUS_LABELS.get(row.status, row.status),
        "channel": CHANNEL_LABELS.get(row.channel, row.channel),
        "resident_ref": row.resident_ref,
        "waiting": age(row.created_at),
        "taken_by": row.taken_by,
        "text": row.text[:80],
        "cases": cases_summary(cases),
    }


async def _inbox_items(desk: Desk) -> list[dict[str, Any]]:
    rows = await desk.inbox()
    found = await desk.residents_cases((row.channel, row.resident_ref) for row in rows)
    return [_inbox_item(row, found[(row.channel, row.resident_ref)]) for row in rows]


@router.get("/inbox")
async def inbox_page(request: Request, staff: StaffMember) -> Response:
    items = await _inbox_items(_desk(request))
    return await render(request, "inbox.html", {"items": items}, staff=staff)


@router.get("/inbox.json")
async def inbox_json(request: Request, staff: StaffMember) -> JSONResponse:
    desk = _desk(request)
    items = await _inbox_items(desk)
    return JSONResponse(
        {"items": items, "waiting": await desk.waiting_count()}, headers={"cache-control": "no-store"}
    )


@router.get("/inbox/{handoff_id}")
async def handoff_page(request: Request, handoff_id: int, staff: StaffMember) -> Response:
    desk = _desk(request)
    try:
        detail = await desk.handoff_detail(handoff_id)
    except DeskError:
        return await render(
            request, "error.html", {"message": f"没有转人工会话 {handoff_id}"}, staff=staff, status_code=404
        )
    resident = (detail.handoff.channel, detail.handoff.resident_ref)
    context = {
        "detail": detail,
        "handoff": detail.handoff,
        # Full phone numbers, as on the case page: every signed-in staff member sees them there.
        "cases": (await desk.residents_cases([resident]))[resident],
        "last_message": detail.messages[-1].id if detail.messages else 0,
    }
    return await render(request, "handoff.html", context, staff=staff)


@router.get("/inbox/{handoff_id}/messages.json")
async def handoff_messages(request: Request, handoff_id: int, staff: StaffMember, after: int = 0) -> Response:
    try:
        detail = await _desk(request).handoff_detail(handoff_id, after_message=after)
    except DeskError:
        return JSONResponse({"error": "not found"}, status_code=404)
    templates: Jinja2Templates = request.app.state.templates
    local = templates.env.filters["local"]
    messages = [
        {
            "id": m.id,
            "sender": m.sender,
            "sender_label": SENDER_LABELS.get(m.sender, m.sender),
            "staff": m.staff,
            "text": m.text,
            "at": local(m.at),
        }
        for m in detail.messages
    ]
    handoff = detail.handoff
    return JSONResponse(
        {
            "status": handoff.status,
            "status_label": HANDOFF_STATUS_LABELS.get(handoff.status, handoff.status),
            "taken_by": handoff.taken_by,
            "messages": messages,
        },
        headers={"cache-control": "no-store"},
    )


def _handoff_url(handoff_id: int) -> str:
    return f"/inbox/{handoff_id}"


@router.post("/inbox/{handoff_id}/take")
async def take_handoff(request: Request, handoff_id: int, staff: StaffMember) -> Response:
    await checked_form(request)
    try:
        await _desk(request).take_handoff(handoff_id, staff=staff.display_name)
        flash(request, "ok", "已接入，居民会收到通知")
    except DeskError as error:
        flash(request, "error", error.detail)
    return _see(_handoff_url(handoff_id))


@router.post("/inbox/{handoff_id}/reply")
async def reply(request: Request, handoff_id: int, staff: StaffMember) -> Response:
    form = await checked_form(request)
    text = _field(form, "text", limit=MAX_REPLY_CHARS)
    if not text:
        flash(request, "error", "请输入回复内容")
        return _see(_handoff_url(handoff_id))
    try:
        await _desk(request).reply(handoff_id, text, staff=staff.display_name)
    except DeskError as error:
        flash(request, "error", error.detail)
    return _see(_handoff_url(handoff_id))


@router.post("/inbox/{handoff_id}/close")
async def hand_back(request: Request, handoff_id: int, staff: StaffMember) -> Response:
    await checked_form(request)
    try:
        await _desk(request).hand_back(handoff_id, staff=staff.display_name)
        flash(request, "ok", "已交还机器人")
    except DeskError as error:
        flash(request, "error", error.detail)
        return _see(_handoff_url(handoff_id))
    return _see("/inbox")
