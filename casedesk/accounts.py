"""Staff accounts: argon2id password hashes, sign-in with a lock after repeated failures.

Five failed sign-ins in a row lock an account for 15 minutes; while it is locked even the
right password is refused (and not checked). An unknown name costs the same hash check as a
known one, so timing tells nothing about which names exist.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.orm import Session

from casedesk.db import Staff, create_sync_engine, create_tables_sync, reading, utcnow, writing
from casedesk.settings import Settings

MAX_FAILED_SIGN_INS = 5
LOCK_DURATION = timedelta(minutes=15)
MIN_PASSWORD_CHARS = 8
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{1,64}$")

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not a password of anyone")


@dataclass(frozen=True)
class StaffInfo:
    id: int
    username: str
    display_name: str
    #: Changes when the password does: a session remembers it and ends with a password change.
    auth_version: str


class SignIn(StrEnum):
    OK = "ok"
    WRONG = "wrong"
    LOCKED = "locked"


@dataclass(frozen=True)
class SignInResult:
    outcome: SignIn
    staff: StaffInfo | None = None
    locked_until: datetime | None = None


class AccountError(ValueError):
    pass


def auth_version(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def staff_info(row: Staff) -> StaffInfo:
    return StaffInfo(row.id, row.username, row.display_name, auth_version(row.password_hash))


def hash_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_CHARS:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_CHARS} characters")
    return _hasher.hash(password)


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def sign_in(engine: AsyncEngine, username: str, password: str) -> SignInResult:
    # The slow hash check runs outside any transaction (on SQLite a write transaction would
    # stall every other writer meanwhile); the outcome is then counted in a short one that
    # looks at the account again, so concurrent failures all count and a lock set meanwhile holds.
    async with reading(engine)() as session:
        row = (await session.execute(select(Staff).where(Staff.username == username))).scalar_one_or_none()
    if row is None or not row.active:
        await anyio.to_thread.run_sync(_verify, _DUMMY_HASH, password)
        return SignInResult(SignIn.WRONG)
    if row.locked_until is not None and row.locked_until > utcnow():
        return SignInResult(SignIn.LOCKED, locked_until=row.locked_until)
    checked_hash = row.password_hash
    correct = await anyio.to_thread.run_sync(_verify, checked_hash, password)
    async with writing(engine)() as session, session.begin():
        row = (
            await session.execute(select(Staff).where(Staff.id == row.id).with_for_update())
        ).scalar_one_or_none()
        if row is None or not row.active:
            return SignInResult(SignIn.WRONG)
        now = utcnow()
        if row.locked_until is not None and row.locked_until > now:
            return SignInResult(SignIn.LOCKED, locked_until=row.locked_until)
        if correct and row.password_hash == checked_hash:
            row.failed_logins = 0
            row.locked_until = None
            if _hasher.check_needs_rehash(row.password_hash):
                row.password_hash = _hasher.hash(password)
            return SignInResult(SignIn.OK, staff_info(row))
        row.failed_logins += 1
        if row.failed_logins >= MAX_FAILED_SIGN_INS:
            row.failed_logins = 0
            row.locked_until = now + LOCK_DURATION
            return SignInResult(SignIn.LOCKED, locked_until=row.locked_until)
        return SignInResult(SignIn.WRONG)


async def load_staff(engine: AsyncEngine, staff_id: int) -> StaffInfo | None:
    async with reading(engine)() as session:
        row = await session.get(Staff, staff_id)
        return staff_info(row) if row is not None and row.active else None


def create_staff(
    settings: Settings,
    username: str,
    password: str,
    *,
    display_name: str | None = None,
    reset_password: bool = False,
) -> StaffInfo:
    """Create a staff account (or, with ``reset_password``, set a new password and unlock it).

    Synchronous on purpose: the command line and ``make run`` call it, inside or outside an
    event loop (a test calls it through ``asyncio.to_thread``)."""
    if not USERNAME_PATTERN.fullmatch(username):
        raise AccountError("a user name is 1–64 letters, digits, '_', '.' or '-'")
    password_hash = hash_password(password)
    engine = create_sync_engine(settings)
    try:
        create_tables_sync(engine, settings)
        with engine.begin() as connection, Session(bind=connection) as session:
            row = session.execute(select(Staff).where(Staff.username == username)).scalar_one_or_none()
            if row is not None and not reset_password:
                raise AccountError(f"staff account {username!r} exists (use --reset-password)")
            if row is None:
                row = Staff(
                    username=username,
                    display_name=display_name or username,
                    password_hash=password_hash,
                    failed_logins=0,
                    active=True,
                )
                session.add(row)
            else:
                row.password_hash = password_hash
                row.failed_logins = 0
                row.locked_until = None
                if display_name:
                    row.display_name = display_name
            try:
                session.flush()
            except IntegrityError as exc:  # created meanwhile by someone else
                raise AccountError(f"staff account {username!r} exists") from exc
            return staff_info(row)
    finally:
        engine.dispose()


def staff_exists(settings: Settings, username: str) -> bool:
    engine = create_sync_engine(settings)
    try:
        create_tables_sync(engine, settings)
        with engine.connect() as connection:
            found = connection.execute(select(Staff.id).where(Staff.username == username)).first()
            return found is not None
    finally:
        engine.dispose()
