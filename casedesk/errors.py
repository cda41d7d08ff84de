"""Errors as ``Problem`` JSON (``{"title", "status", "detail"}``) on the API; the staff pages show
the same errors as pages."""

from __future__ import annotations

from http import HTTPStatus

from fastapi.responses import JSONResponse

from backend_client.models import Problem

PROBLEM_MEDIA_TYPE = "application/problem+json"


class DeskError(Exception):
    """A refusal with an HTTP status and words saying what failed."""

    def __init__(self, status: int, detail: str, *, title: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or HTTPStatus(status).phrase


def problem_response(
    status: int, detail: str | None, *, title: str | None = None, headers: dict[str, str] | None = None
) -> JSONResponse:
    problem = Problem(title=title or HTTPStatus(status).phrase, status=status, detail=detail)
    return JSONResponse(
        problem.model_dump(mode="json"), status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers
    )


def problem_bytes(status: int, detail: str | None, *, title: str | None = None) -> bytes:
    problem = Problem(title=title or HTTPStatus(status).phrase, status=status, detail=detail)
    return problem.model_dump_json().encode()
