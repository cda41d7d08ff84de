"""The case-system API, ``/api/v1`` (docs/backend-api.md; request and response bodies are the
models of ``backend_client.models``)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import unicodedata
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Depends, File, Header, Query, Request, Response, UploadFile
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from backend_client.models import (
    Attachment,
    Case,
    CaseCreate,
    ChangesPage,
    ErasureRequest,
    ErasureRequestCreate,
    Escalation,
    EscalationCreate,
    Handoff,
    HandoffCreate,
    HandoffEventsPage,
    HandoffMessageCreate,
    Problem,
)
from casedesk.erasure import erase_for_resident
from casedesk.errors import DeskError
from casedesk.settings import Settings
from casedesk.store import Desk, NewAttachment, Stored, fingerprint

PREFIX = "/api/v1"
MAX_ATTACHMENT_BYTES = 10 * 1024 * 1024
MAX_FEED_PAGE = 1000

#: The first bytes of the images the desk accepts, and the type and extension each one gets.
IMAGE_SIGNATURES: tuple[tuple[bytes, str, str], ...] = (
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"GIF87a", "image/gif", ".gif"),
    (b"GIF89a", "image/gif", ".gif"),
)


def sniff_image(head: bytes) -> tuple[str, str] | None:
    """(content type, extension) of a JPEG, PNG, GIF or WebP image, judged by its first bytes."""
    for signature, content_type, extension in IMAGE_SIGNATURES:
        if head.startswith(signature):
            return content_type, extension
    if len(head) >= 12 and head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", ".webp"
    return None


def token_matches(settings: Settings, authorization: str | None) -> bool:
    """Constant-time check of ``Authorization: Bearer <token>``."""
    if not authorization:
        return False
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(credentials.strip().encode(), settings.token.encode())


def _problems(*statuses: int, retry: type[BaseModel] | None = None) -> dict[int | str, dict[str, Any]]:
    words = {
        400: "The request is malformed",
        401: "Missing or wrong bearer token",
        404: "No such thing",
        409: "The Idempotency-Key was used with another request, or the state forbids it",
        413: "The body or the file is too large",
        415: "The file is not an accepted image",
        422: "The request does not match the schema: the detail names the fields",
    }
    responses: dict[int | str, dict[str, Any]] = {}
    if retry is not None:
        responses[200] = {"model": retry, "description": "A retry: the result of the first request"}
    for status in statuses:
        responses[status] = {
            "model": Problem,
            "description": words[status],
            "content": {"application/problem+json": {}},
        }
    return responses


_bearer = HTTPBearer(auto_error=False, description="CASEDESK_API_TOKEN (the bot's BOT_BACKEND_TOKEN)")


async def require_token(
    request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]
) -> None:
    # The gate middleware has already checked (before any body was read); this keeps the
    # check next to the routes and puts the security scheme into the schema.
    header = f"Bearer {credentials.credentials}" if credentials else None
    if not token_matches(request.app.state.settings, header):
        raise DeskError(401, "missing or wrong bearer token")


router = APIRouter(prefix=PREFIX, dependencies=[Depends(require_token)], responses=_problems(401, 422))

IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=255,
        pattern=r"^[\x21-\x7e]+$",
        description="Unique per thing to create (the bot sends its outbox row id); a retry "
        "with the same key and body gets the first result (200) and creates nothing",
    ),
]
Cursor = Annotated[
    str | None,
    Query(pattern=r"^[0-9]{1,18}$", description="next_cursor of the previous page; omit to start"),
]
Limit = Annotated[int, Query(ge=1, le=MAX_FEED_PAGE, description="at most this many per page")]


def _desk(request: Request) -> Desk:
    desk: Desk = request.app.state.desk
    return desk


def _send(stored: Stored) -> Response:
    return Response(stored.body, status_code=stored.status, media_type="application/json")


@router.post(
    "/cases",
    status_code=201,
    response_model=Case,
    response_description="The case, created (step accepted)",
    responses=_problems(409, retry=Case),
    summary="Create a case from a resident's report",
)
async def create_case(request: Request, body: CaseCreate, idempotency_key: IdempotencyKey) -> Response:
    desk = _desk(request)
    if body.consent_at.utcoffset() is None:  # the model accepts naive times; the contract does not
        raise DeskError(422, "body.consent_at: a time with a time zone is required (ISO 8601 with an offset)")

    async def create(session: AsyncSession) -> Case:
        return await desk.create_case(session, body)

    return _send(await desk.idempotent(idempotency_key, fingerprint("POST", request.url.path, body), create))


@router.get("/cases/{case_no}", response_model=Case, responses=_problems(404), summary="Read a case")
async def read_case(request: Request, case_no: str) -> Case:
    return await _desk(request).get_case(case_no)


@router.get(
    "/changes",
    response_model=ChangesPage,
    summary="The changes feed, oldest first",
    description="Every change of every case (its creation included) exactly once, in order: "
    "start without a cursor, then pass next_cursor as updated_since.",
)
async def changes(request: Request, updated_since: Cursor = None, limit: Limit = 100) -> ChangesPage:
    return await _desk(request).changes(int(updated_since or 0), limit)


def _clean_filename(name: str | None, extension: str) -> str:
    base = Path(name or "").name
    base = "".join(c for c in base if unicodedata.category(c)[0] != "C").strip()
    return base[:200] or f"image{extension}"


@router.post(
    "/cases/{case_no}/attachments",
    status_code=201,
    response_model=Attachment,
    response_description="The attachment, stored",
    responses=_problems(404, 409, 413, 415, retry=Attachment),
    summary="Add an image to a case as evidence",
    description="multipart/form-data with one part `file`: a JPEG, PNG, GIF or WebP image of at "
    "most 10 MB (judged by its first bytes, whatever its name or declared type says).",
)
async def add_attachment(
    request: Request,
    case_no: str,
    file: Annotated[UploadFile, File(description="the image")],
    idempotency_key: IdempotencyKey,
) -> Response:
    desk = _desk(request)
    content = await file.read(MAX_ATTACHMENT_BYTES + 1)
    if len(content) > MAX_ATTACHMENT_BYTES:
        raise DeskError(413, f"file: larger than {MAX_ATTACHMENT_BYTES // (1024 * 1024)} MB")
    kind = sniff_image(content[:16])
    if kind is None:
        raise DeskError(415, "file: not a JPEG, PNG, GIF or WebP image (judged by its first bytes)")
    content_type, extension = kind
    filename = _clean_filename(file.filename, extension)
    digest = hashlib.sha256(content).hexdigest()
    request_print = fingerprint("POST", request.url.path, f"{filename}\n{digest}".encode())
    if not await desk.case_exists(case_no):
        raise DeskError(404, f"no case {case_no!r}")

    directory = desk.settings.attachments_dir
    storage_name = f"{secrets.token_hex(16)}{extension}"
    path = anyio.Path(directory / storage_name)
    written = False

    async def create(session: AsyncSession) -> Attachment:
        nonlocal written
        await anyio.Path(directory).mkdir(parents=True, exist_ok=True)
        await path.write_bytes(content)
        written = True
        new = NewAttachment(filename, content_type, len(content), digest, storage_name)
        return await desk.add_attachment(session, case_no, new)

    try:
        stored = await desk.idempotent(idempotency_key, request_print, create)
    except BaseException:
        if written:
            await path.unlink(missing_ok=True)
        raise
    if stored.status != 201 and written:  # pragma: no cover - a lost race: keep the first file only
        await path.unlink(missing_ok=True)
    return _send(stored)


@router.post(
    "/escalations",
    status_code=201,
    response_model=Escalation,
    response_description="The escalation, on top of the queue",
    responses=_problems(409, retry=Escalation),
    summary="An urgent escalation",
    description="Imminent violence or self-harm: at once on top of the desk's queue and, as an "
    "urgent handoff, first in its handoff inbox.",
)
async def create_escalation(
    request: Request, body: EscalationCreate, idempotency_key: IdempotencyKey
) -> Response:
    desk = _desk(request)

    async def create(session: AsyncSession) -> Escalation:
        return await desk.create_escalation(session, body)

    return _send(await desk.idempotent(idempotency_key, fingerprint("POST", request.url.path, body), create))


@router.post(
    "/handoffs",
    status_code=201,
    response_model=Handoff,
    response_description="The handoff, waiting in the inbox",
    responses=_problems(409, retry=Handoff),
    summary="A resident asks for a person",
)
async def create_handoff(request: Request, body: HandoffCreate, idempotency_key: IdempotencyKey) -> Response:
    desk = _desk(request)

    async def create(session: AsyncSession) -> Handoff:
        return await desk.create_handoff(session, body)

    return _send(await desk.idempotent(idempotency_key, fingerprint("POST", request.url.path, body), create))


@router.post(
    "/handoffs/{handoff_id}/messages",
    status_code=201,
    response_model=Handoff,
    response_description="The message is with the desk; the handoff as it is now",
    responses=_problems(404, 409, retry=Handoff),
    summary="Relay what the resident wrote to the desk",
    description="Answers with the handoff (taken or still waiting); 409 once it is closed.",
)
async def relay_message(
    request: Request, handoff_id: int, body: HandoffMessageCreate, idempotency_key: IdempotencyKey
) -> Response:
    desk = _desk(request)

    async def create(session: AsyncSession) -> Handoff:
        return await desk.relay_message(session, handoff_id, body)

    return _send(await desk.idempotent(idempotency_key, fingerprint("POST", request.url.path, body), create))


@router.post(
    "/handoffs/{handoff_id}/close",
    response_model=Handoff,
    responses=_problems(404),
    summary="The bot ends a handoff",
    description="Idempotent: closing a closed handoff answers it as it is.",
)
async def close_handoff(request: Request, handoff_id: int) -> Handoff:
    return await _desk(request).close_by_bot(handoff_id)


@router.get(
    "/handoff-events",
    response_model=HandoffEventsPage,
    summary="What staff did, oldest first",
    description="taken, message (text for the resident), closed (handed back to the bot); "
    "start without a cursor, then pass next_cursor as after.",
)
async def handoff_events(request: Request, after: Cursor = None, limit: Limit = 100) -> HandoffEventsPage:
    return await _desk(request).handoff_events(int(after or 0), limit)


@router.post(
    "/erasure-requests",
    status_code=201,
    response_model=ErasureRequest,
    response_description="What the desk deleted, and what it must keep",
    responses=_problems(409, retry=ErasureRequest),
    summary="A resident asks for their personal data to be deleted",
    description="Cases nobody has begun to mediate (accepted, rejected, withdrawn) lose every "
    "personal detail (`erased`); cases that reached mediation belong to the mediation archive "
    "the law requires (人民调解法 第二十七条) and are `kept`, marked for staff, who use them for "
    "nothing but storage (个人信息保护法 第四十七条第二款). Closed conversations with staff lose "
    "their texts.",
)
async def request_erasure(
    request: Request, body: ErasureRequestCreate, idempotency_key: IdempotencyKey
) -> Response:
    desk = _desk(request)
    files: list[Path] = []

    async def create(session: AsyncSession) -> ErasureRequest:
        answer, to_delete = await erase_for_resident(session, body, desk.settings.attachments_dir)
        files.extend(to_delete)
        return answer

    stored = await desk.idempotent(idempotency_key, fingerprint("POST", request.url.path, body), create)
    for path in files:  # only once the deletion has committed
        await anyio.Path(path).unlink(missing_ok=True)
    return _send(stored)
