"""Async client of the WeChat official-account API: the few calls the bot makes on its own
(customer-service and template messages, the menu, media downloads, the stable access_token).

Not wechatpy's ``WeChatClient``: it is synchronous, and it fetches an access_token by itself,
without a lock, whenever it holds none. Every fetch of a new token invalidates the one the other
processes hold (after a short overlap), so several bot processes would keep knocking each other's
tokens out. Here one refresher (``bot/wechat/token.py``) fetches the token and stores it; this
client only reads it from ``AccessTokens`` and, when WeChat calls it invalid, reads it once more.

WeChat answers most errors with HTTP 200 and a JSON ``errcode``; they are mapped to the typed
exceptions below. The access_token travels in the query string, so no message built here
contains a URL.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import httpx
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

#: The access_token is invalid, expired or missing: read the stored one again.
TOKEN_ERRORS = frozenset({40001, 40014, 41001, 42001})
#: Outside the 48-hour customer-service window, or its message quota is used up.
OUT_OF_WINDOW = frozenset({45015, 45047})
#: The resident unfollowed the account (43004) or the openid is not one of its followers (40003).
RECIPIENT_GONE = frozenset({40003, 43004})
#: System busy (-1) and the API's own rate limits: try later.
BUSY = frozenset({-1, 45009, 45011})
#: The media id is invalid, or the media expired (WeChat keeps uploads for three days).
MEDIA_GONE = frozenset({40007})


class WeChatError(Exception):
    """A call to WeChat failed. ``errcode`` is WeChat's code, None for network failures;
    ``uncertain``: the request may have been carried out (the answer was lost)."""

    def __init__(self, operation: str, errcode: int | None, message: str, *, uncertain: bool = False) -> None:
        code = f" (errcode {errcode})" if errcode is not None else ""
        super().__init__(f"wechat {operation}{code}: {message}")
        self.operation = operation
        self.errcode = errcode
        self.uncertain = uncertain


class WeChatRetryable(WeChatError):
    """Network failure, system busy, no usable access_token yet: worth trying again later."""


class OutOfWindow(WeChatError):
    """Customer-service messages are not allowed now (45015 time limit, 45047 count limit)."""


class RecipientGone(WeChatError):
    """The resident cannot receive anything from the account (unfollowed, unknown openid)."""


class WeChatRejected(WeChatError):
    """WeChat refused the request itself (arguments, permissions): retrying will not help."""


class MediaExpired(WeChatRejected):
    """The media id is unknown to WeChat, or its file expired."""


class AccessTokens(Protocol):
    """Where the client reads the access_token that the refresher stored."""

    async def current(self) -> str:
        """The token, from a cache while it is fresh; raises ``WeChatRetryable`` when none is usable."""
        ...

    async def reread(self) -> str:
        """The token as stored now, bypassing any cache."""
        ...


@dataclass(frozen=True, slots=True)
class IssuedToken:
    access_token: str
    expires_in: int  # seconds


@dataclass(frozen=True, slots=True)
class MediaFile:
    content: bytes
    content_type: str


class _Again(Exception):
    """Raised inside the retry loop for failures that are safe to repeat at once."""

    def __init__(self, error: WeChatRetryable) -> None:
        self.error = error


class WeChatApi:
    def __init__(
        self,
        base_url: str,
        tokens: AccessTokens | None = None,
        *,
        timeout: float = 10.0,
        attempts: int = 3,
        max_backoff: float = 2.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout, transport=transport)
        self._tokens = tokens
        self._attempts = attempts
        self._max_backoff = max_backoff

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> WeChatApi:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- calls ---

    async def stable_token(self, app_id: str, secret: str) -> IssuedToken:
        """Fetch an access_token (only the refresher calls this). Without ``force_refresh``,
        WeChat returns the token still in force, so asking again does not invalidate it."""
        body = {"grant_type": "client_credential", "appid": app_id, "secret": secret, "force_refresh": False}
        response = await self._request("stable_token", "POST", "/cgi-bin/stable_token", {}, body, safe=True)
        answer = _json(response)
        _raise_for("stable_token", answer)
        token, expires_in = answer.get("access_token"), answer.get("expires_in")
        if not isinstance(token, str) or not token or not isinstance(expires_in, int):
            raise WeChatRetryable("stable_token", None, "answer without access_token/expires_in")
        return IssuedToken(token, expires_in)

    async def send_text(self, openid: str, text: str) -> None:
        body = {"touser": openid, "msgtype": "text", "text": {"content": text}}
        await self._with_token("custom message", "POST", "/cgi-bin/message/custom/send", body=body)

    async def send_template(self, openid: str, template_id: str, data: Mapping[str, str]) -> int | None:
        """Returns WeChat's msgid."""
        body = {
            "touser": openid,
            "template_id": template_id,
            "data": {name: {"value": value} for name, value in data.items()},
        }
        answer = _json(
            await self._with_token("template message", "POST", "/cgi-bin/message/template/send", body=body)
        )
        msgid = answer.get("msgid")
        return msgid if isinstance(msgid, int) else None

    async def create_menu(self, menu: Mapping[str, Any]) -> None:
        await self._with_token("create menu", "POST", "/cgi-bin/menu/create", body=dict(menu), safe=True)

    async def get_media(self, media_id: str) -> MediaFile:
        response = await self._with_token(
            "get media", "GET", "/cgi-bin/media/get", params={"media_id": media_id}, safe=True
        )
        content_type = response.headers.get("content-type", "application/octet-stream").split(";")[0].strip()
        if _looks_like_json(content_type):
            # Videos come back as a JSON link, not bytes: nothing the bot can forward.
            raise WeChatRejected("get media", None, "the media is not a downloadable file")
        return MediaFile(response.content, content_type)

    # --- plumbing ---

    async def _with_token(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        safe: bool = False,
    ) -> httpx.Response:
        if self._tokens is None:
            raise WeChatRetryable(operation, None, "no access_token source configured")
        token = await self._tokens.current()
        for rereads_left in (1, 0):
            query = {**(params or {}), "access_token": token}
            response = await self._request(operation, method, path, query, body, safe=safe)
            answer = _json(response) if _looks_like_json(response.headers.get("content-type", "")) else {}
            errcode = _errcode(answer)
            if errcode in TOKEN_ERRORS:
                fresh = await self._tokens.reread() if rereads_left else token
                if fresh != token:  # another process stored a new one since we cached ours
                    token = fresh
                    continue
                raise WeChatRetryable(operation, errcode, "the stored access_token is not accepted")
            _raise_for(operation, answer)
            return response
        raise AssertionError("unreachable")  # pragma: no cover

    async def _request(
        self,
        operation: str,
        method: str,
        path: str,
        params: dict[str, str],
        body: dict[str, Any] | None,
        *,
        safe: bool,
    ) -> httpx.Response:
        """One call, repeated at once only when WeChat surely did nothing (or it does not matter:
        ``safe`` calls are idempotent). A message send that timed out may have gone out."""
        # WeChat shows \\uXXXX escapes literally (and refuses them in menus: errcode 40033).
        content = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        headers = {"Content-Type": "application/json; charset=utf-8"} if content is not None else {}
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self._attempts),
                wait=wait_random_exponential(multiplier=0.2, max=self._max_backoff),
                retry=retry_if_exception_type(_Again),
                reraise=True,
            ):
                with attempt:
                    return await self._send(operation, method, path, params, content, headers, safe=safe)
        except _Again as again:
            raise again.error from None
        raise AssertionError("unreachable")  # pragma: no cover

    async def _send(
        self,
        operation: str,
        method: str,
        path: str,
        params: dict[str, str],
        content: bytes | None,
        headers: dict[str, str],
        *,
        safe: bool,
    ) -> httpx.Response:
        try:
            response = await self._http.request(method, path, params=params, content=content, headers=headers)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            raise _Again(WeChatRetryable(operation, None, f"unreachable ({type(exc).__name__})")) from None
        except httpx.TransportError as exc:
            error = WeChatRetryable(operation, None, f"no answer ({type(exc).__name__})", uncertain=True)
            if safe:
                raise _Again(error) from None
            raise error from None
        if response.status_code >= 500 or response.status_code == 429:
            error = WeChatRetryable(operation, None, f"HTTP {response.status_code}", uncertain=True)
            if safe:
                raise _Again(error)
            raise error
        if response.status_code >= 400:
            raise WeChatRejected(operation, None, f"HTTP {response.status_code}")
        if _looks_like_json(response.headers.get("content-type", "")):
            answer = _json(response)
            if _errcode(answer) == -1:  # system busy: nothing was done
                raise _Again(WeChatRetryable(operation, -1, "system busy"))
        return response


def _looks_like_json(content_type: str) -> bool:
    # WeChat sends its error bodies as text/plain on some endpoints (media/get).
    kind = content_type.split(";")[0].strip().lower()
    return kind in ("application/json", "text/plain", "text/json")


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        answer = response.json()
    except ValueError:
        return {}
    return answer if isinstance(answer, dict) else {}


def _errcode(answer: Mapping[str, Any]) -> int:
    code = answer.get("errcode", 0)
    return code if isinstance(code, int) else 0


def _raise_for(operation: str, answer: Mapping[str, Any]) -> None:
    errcode = _errcode(answer)
    if errcode == 0:
        return
    # errmsg carries WeChat's request id ("rid: …"), never our token or the resident's text.
    message = str(answer.get("errmsg", ""))[:200]
    if errcode in OUT_OF_WINDOW:
        raise OutOfWindow(operation, errcode, message)
    if errcode in RECIPIENT_GONE:
        raise RecipientGone(operation, errcode, message)
    if errcode in BUSY or errcode in TOKEN_ERRORS:
        raise WeChatRetryable(operation, errcode, message)
    if errcode in MEDIA_GONE:
        raise MediaExpired(operation, errcode, message)
    raise WeChatRejected(operation, errcode, message)
