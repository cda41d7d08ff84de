"""Async client of the case-system API (docs/backend-api.md).

Timeouts, retries with exponential backoff and jitter for timeouts, connection failures and
5xx (tenacity), none for 4xx, and errors that say which call failed and why. It imports
nothing from the bot and no web framework: it can be used on its own.
"""

from __future__ import annotations

from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError
from tenacity import AsyncRetrying, retry_if_exception_type, stop_after_attempt, wait_random_exponential

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
)

M = TypeVar("M", bound=BaseModel)


class BackendError(Exception):
    """A call to the case system failed. ``operation`` names the call, ``status`` the HTTP status."""

    def __init__(self, operation: str, message: str, *, status: int | None = None) -> None:
        super().__init__(f"{operation}: {message}")
        self.operation = operation
        self.status = status


class BackendUnavailable(BackendError):
    """Timeouts, refused connections, 5xx: worth trying again later."""


class BackendRejected(BackendError):
    """4xx: the request itself is wrong (or unauthorised); retrying will not help."""


class _Transient(Exception):
    def __init__(self, error: BackendUnavailable) -> None:
        self.error = error


class CaseSystemClient:
    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 10.0,
        attempts: int = 4,
        max_backoff: float = 5.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/") + "/api/v1",
            headers={"Authorization": f"Bearer {token}"},
            timeout=timeout,
            transport=transport,
        )
        self._attempts = attempts
        self._max_backoff = max_backoff

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> CaseSystemClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # --- calls ---

    async def create_case(self, case: CaseCreate, *, idempotency_key: str) -> Case:
        return await self._call("create case", Case, "POST", "/cases", json=case, key=idempotency_key)

    async def get_case(self, case_no: str) -> Case:
        return await self._call("read case", Case, "GET", f"/cases/{case_no}")

    async def changes(self, updated_since: str | None, *, limit: int = 500) -> ChangesPage:
        params: dict[str, Any] = {"limit": limit}
        if updated_since:
            params["updated_since"] = updated_since
        return await self._call("read changes", ChangesPage, "GET", "/changes", params=params)

    async def add_attachment(
        self, case_no: str, *, filename: str, content: bytes, content_type: str, idempotency_key: str
    ) -> Attachment:
        files = {"file": (filename, content, content_type)}
        return await self._call(
            "add attachment",
            Attachment,
            "POST",
            f"/cases/{case_no}/attachments",
            files=files,
            key=idempotency_key,
        )

    async def create_escalation(self, escalation: EscalationCreate, *, idempotency_key: str) -> Escalation:
        return await self._call(
            "create escalation", Escalation, "POST", "/escalations", json=escalation, key=idempotency_key
        )

    async def create_handoff(self, handoff: HandoffCreate, *, idempotency_key: str) -> Handoff:
        return await self._call(
            "create handoff", Handoff, "POST", "/handoffs", json=handoff, key=idempotency_key
        )

    async def relay_to_handoff(self, handoff_id: int, text: str, *, idempotency_key: str) -> None:
        body = HandoffMessageCreate(text=text)
        await self._request(
            "relay message", "POST", f"/handoffs/{handoff_id}/messages", json=body, key=idempotency_key
        )

    async def close_handoff(self, handoff_id: int) -> Handoff:
        return await self._call("close handoff", Handoff, "POST", f"/handoffs/{handoff_id}/close")

    async def handoff_events(self, after: str | None, *, limit: int = 200) -> HandoffEventsPage:
        params: dict[str, Any] = {"limit": limit}
        if after:
            params["after"] = after
        return await self._call(
            "read handoff events", HandoffEventsPage, "GET", "/handoff-events", params=params
        )

    async def request_erasure(self, request: ErasureRequestCreate, *, idempotency_key: str) -> ErasureRequest:
        return await self._call(
            "request erasure", ErasureRequest, "POST", "/erasure-requests", json=request, key=idempotency_key
        )

    async def is_reachable(self) -> bool:
        try:
            await self.changes(None, limit=1)
        except BackendError:
            return False
        return True

    # --- plumbing ---

    async def _call(
        self,
        operation: str,
        model: type[M],
        method: str,
        path: str,
        *,
        json: BaseModel | None = None,
        params: dict[str, Any] | None = None,
        files: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> M:
        response = await self._request(
            operation, method, path, json=json, params=params, files=files, key=key
        )
        try:
            return model.model_validate_json(response.content)
        except ValidationError as exc:
            raise BackendRejected(operation, f"unexpected response body: {exc.error_count()} errors") from exc

    async def _request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        json: BaseModel | None = None,
        params: dict[str, Any] | None = None,
        files: dict[str, Any] | None = None,
        key: str | None = None,
    ) -> httpx.Response:
        headers = {"Idempotency-Key": key} if key else {}
        content = json.model_dump_json().encode() if json is not None else None
        if content is not None:
            headers["Content-Type"] = "application/json"
        try:
            async for attempt in AsyncRetrying(
                stop=stop_after_attempt(self._attempts),
                wait=wait_random_exponential(multiplier=0.2, max=self._max_backoff),
                retry=retry_if_exception_type(_Transient),
                reraise=True,
            ):
                with attempt:
                    response = await self._send(operation, method, path, headers, content, params, files)
        except _Transient as exc:
            raise exc.error from None
        return response

    async def _send(
        self,
        operation: str,
        method: str,
        path: str,
        headers: dict[str, str],
        content: bytes | None,
        params: dict[str, Any] | None,
        files: dict[str, Any] | None,
    ) -> httpx.Response:
        try:
            response = await self._http.request(
                method, path, headers=headers, content=content, params=params, files=files
            )
        except httpx.TimeoutException as exc:
            raise _Transient(BackendUnavailable(operation, "timed out")) from exc
        except httpx.TransportError as exc:
            raise _Transient(BackendUnavailable(operation, f"unreachable ({type(exc).__name__})")) from exc
        if response.status_code >= 500:
            raise _Transient(
                BackendUnavailable(
                    operation, f"server error {response.status_code}", status=response.status_code
                )
            )
        if response.status_code >= 400:
            raise BackendRejected(
                operation,
                f"refused with {response.status_code}: {_detail(response)}",
                status=response.status_code,
            )
        return response


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)[:200]
    return str(body)[:200]
