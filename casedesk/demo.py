"""A demo staff account for a first look at the desk (``python -m casedesk demo``, ``make run``)."""

from __future__ import annotations

import secrets

from casedesk.accounts import AccountError, create_staff, staff_exists
from casedesk.settings import Settings

DEMO_USER = "demo"


def ensure_demo_staff(settings: Settings) -> tuple[str, str] | None:
    """Create the staff account ``demo`` with a random password when there is none.

    Returns (user, password) when it created the account, None when it already existed (its
    password is not kept anywhere; ``python -m casedesk create-staff demo --password-stdin
    --reset-password`` sets a new one). Synchronous: callable inside or outside an event loop.
    """
    if staff_exists(settings, DEMO_USER):
        return None
    password = secrets.token_urlsafe(12)
    try:
        create_staff(settings, DEMO_USER, password, display_name="演示账号")
    except AccountError:  # created meanwhile by another process
        return None
    return DEMO_USER, password


def sign_in_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host  # noqa: S104
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{settings.port}/login"
