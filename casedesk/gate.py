"""The outermost layer: the API's bearer token and body-size limits checked before anything
reads a body, and the security headers of every page."""

from __future__ import annotations

import re

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from casedesk.api import MAX_ATTACHMENT_BYTES, PREFIX, token_matches
from casedesk.errors import PROBLEM_MEDIA_TYPE, problem_bytes
from casedesk.settings import Settings

MAX_BODY_BYTES = 2 * 1024 * 1024
MAX_UPLOAD_BODY_BYTES = MAX_ATTACHMENT_BYTES + 256 * 1024  # the file and the multipart framing
_ATTACHMENTS_PATH = re.compile(rf"^{re.escape(PREFIX)}/cases/[^/]+/attachments$")

PAGE_HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "same-origin",
}


class _TooLarge(Exception):
    pass


class Gate:
    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path: str = scope["path"]
        api = path == PREFIX or path.startswith(PREFIX + "/")
        headers = Headers(scope=scope)
        if api and not token_matches(self.settings, headers.get("authorization")):
            await _reply(send, 401, "missing or wrong bearer token", api=True)
            return
        limit = MAX_UPLOAD_BODY_BYTES if _ATTACHMENTS_PATH.match(path) else MAX_BODY_BYTES
        declared = headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _reply(send, 413, f"the request body is larger than {limit} bytes", api=api)
            return

        received = 0
        too_large = False
        started = False

        async def counting_receive() -> Message:
            nonlocal received, too_large
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    too_large = True
                    raise _TooLarge
            return message

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if too_large:  # whatever the app answers to a cut-off body, the answer is 413
                return
            if message["type"] == "http.response.start":
                started = True
                if not api:
                    response_headers = MutableHeaders(scope=message)
                    for name, value in PAGE_HEADERS.items():
                        response_headers.setdefault(name, value)
            await send(message)

        try:
            await self.app(scope, counting_receive, guarded_send)
        except _TooLarge:
            pass
        except Exception:
            if not too_large:
                raise
        if too_large and not started:
            await _reply(send, 413, f"the request body is larger than {limit} bytes", api=api)


async def _reply(send: Send, status: int, detail: str, *, api: bool) -> None:
    if api:
        body = problem_bytes(status, detail)
        content_type = PROBLEM_MEDIA_TYPE.encode()
    else:
        body = detail.encode()
        content_type = b"text/plain; charset=utf-8"
    headers = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
