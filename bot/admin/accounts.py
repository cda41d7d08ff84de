"""Console accounts (table ``admin_users``): argon2id password hashes, sign-in with a lock after
repeated failures, roles, deactivation — every change and sign-in written to the audit log.

Five failed sign-ins in a row lock an account for 15 minutes; while it is locked even the right
password is refused (and not checked). An unknown or deactivated name costs the same hash check
as a known one, so timing tells nothing about which names exist. (The pattern of the reference
case desk's ``casedesk/accounts.py``.)
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum

import anyio.to_thread
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.admin.server_sessions import revoke_all
from bot.faq.actors import Actor, Role
from bot.storage.audit import record
from bot.storage.models import AdminUser, utcnow

MAX_FAILED_SIGN_INS = 5
LOCK_DURATION = timedelta(minutes=15)
MIN_PASSWORD_CHARS = 10
MAX_PASSWORD_CHARS = 1024
USERNAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]{2,64}$")

_hasher = PasswordHasher()
_DUMMY_HASH = _hasher.hash("not the password of anyone at all")

Sessions = async_sessionmaker[AsyncSession]


class AccountError(ValueError):
    """An account change that cannot be made; the message is for the person who asked (Chinese)."""


@dataclass(frozen=True, slots=True)
class Account:
    id: int
    username: str
    role: Role
    active: bool
    #: Changes when the password does: a session remembers it and ends with a password change.
    auth_version: str
    created_at: datetime
    last_login_at: datetime | None
    locked_until: datetime | None

    @property
    def actor(self) -> Actor:
        return Actor(self.username, self.role)

    @property
    def is_reviewer(self) -> bool:
        return self.role is Role.REVIEWER


class SignIn(StrEnum):
    OK = "ok"
    WRONG = "wrong"
    LOCKED = "locked"


@dataclass(frozen=True, slots=True)
class SignInResult:
    outcome: SignIn
    account: Account | None = None
    locked_until: datetime | None = None


@asynccontextmanager
async def _reading(sessions: Sessions) -> AsyncIterator[AsyncSession]:
    """A read-only session: on SQLite it does not take the write lock."""
    async with sessions() as session:
        await session.connection(execution_options={"sqlite_begin": "DEFERRED"})
        yield session


def _auth_version(password_hash: str) -> str:
    return hashlib.sha256(password_hash.encode()).hexdigest()[:16]


def _account(row: AdminUser) -> Account:
    return Account(
        id=row.id,
        username=row.username,
        role=Role(row.role),
        active=row.active,
        auth_version=_auth_version(row.password_hash),
        created_at=row.created_at,
        last_login_at=row.last_login_at,
        locked_until=row.locked_until,
    )


def parse_role(value: str) -> Role:
    try:
        return Role(value)
    except ValueError:
        raise AccountError("角色只能是志愿者（volunteer）或审核员（reviewer）") from None


def password_problem(password: str) -> str | None:
    """Why a new password is refused, or None."""
    if len(password) < MIN_PASSWORD_CHARS:
        return f"密码至少需要{MIN_PASSWORD_CHARS}个字符"
    if len(password) > MAX_PASSWORD_CHARS:
        return f"密码最多{MAX_PASSWORD_CHARS}个字符"
    if password.strip() != password:
        return "密码开头和结尾不能是空格"
    return None


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


async def create_user(
    sessions: Sessions, username: str, password: str, role: Role | str, *, actor: str | None
) -> Account:
    """A new active account; ``actor``: the reviewer who created it (None: the command line)."""
    role = role if isinstance(role, Role) else parse_role(role)
    if not USERNAME_PATTERN.fullmatch(username):
        raise AccountError("用户名为2–64个英文字母、数字或 _ . - ")
    problem = password_problem(password)
    if problem:
        raise AccountError(problem)
    password_hash = await anyio.to_thread.run_sync(_hasher.hash, password)
    try:
        async with sessions.begin() as session:
            taken = await session.scalar(select(AdminUser.id).where(AdminUser.username == username))
            if taken is not None:
                raise AccountError(f"用户名“{username}”已存在")
            row = AdminUser(
                username=username, password_hash=password_hash, role=role.value, active=True, failed_logins=0
            )
            session.add(row)
            record(session, "user_created", actor=actor, target=username, detail=f"role={role.value}")
            await session.flush()
            return _account(row)
    except IntegrityError as exc:  # created meanwhile by someone else
        raise AccountError(f"用户名“{username}”已存在") from exc


async def sign_in(sessions: Sessions, username: str, password: str) -> SignInResult:
    # The slow hash check runs outside any transaction (on SQLite the one connection would be
    # held meanwhile); the outcome is then counted in a short transaction that reads the account
    # again, so concurrent failures all count and a lock set meanwhile holds.
    password = password[:MAX_PASSWORD_CHARS]
    async with _reading(sessions) as session:
        row = await session.scalar(select(AdminUser).where(AdminUser.username == username))
        found = (row.id, row.active, row.password_hash, row.locked_until) if row else None
    if found is None or not found[1]:
        await anyio.to_thread.run_sync(_verify, _DUMMY_HASH, password)
        async with sessions.begin() as session:
            detail = "inactive" if found else "unknown"
            record(session, "sign_in_failed", actor=None, target=username[:64], detail=detail)
        return SignInResult(SignIn.WRONG)
    user_id, _active, checked_hash, locked_until = found
    if locked_until is not None and locked_until > utcnow():
        async with sessions.begin() as session:
            record(session, "sign_in_failed", actor=None, target=username, detail="locked")
        return SignInResult(SignIn.LOCKED, locked_until=locked_until)
    correct = await anyio.to_thread.run_sync(_verify, checked_hash, password)
    new_hash = None
    if correct and _hasher.check_needs_rehash(checked_hash):
        new_hash = await anyio.to_thread.run_sync(_hasher.hash, password)
    async with sessions.begin() as session:
        row = await session.get(AdminUser, user_id, with_for_update=True)
        if row is None or not row.active:
            return SignInResult(SignIn.WRONG)
        now = utcnow()
        locked_until = row.locked_until
        if locked_until is not None and locked_until > now:
            record(session, "sign_in_failed", actor=None, target=username, detail="locked")
            return SignInResult(SignIn.LOCKED, locked_until=locked_until)
        if correct and row.password_hash == checked_hash:
            row.failed_logins = 0
            row.locked_until = None
            row.last_login_at = now
            if new_hash is not None:
                row.password_hash = new_hash
            record(session, "sign_in", actor=username, target=username)
            return SignInResult(SignIn.OK, _account(row))
        row.failed_logins += 1
        record(session, "sign_in_failed", actor=None, target=username, detail=f"attempt {row.failed_logins}")
        if row.failed_logins >= MAX_FAILED_SIGN_INS:
            row.failed_logins = 0
            row.locked_until = now + LOCK_DURATION
            record(
                session,
                "locked",
                actor=None,
                target=username,
                detail=f"{int(LOCK_DURATION.total_seconds())}s",
            )
            return SignInResult(SignIn.LOCKED, locked_until=row.locked_until)
        return SignInResult(SignIn.WRONG)


async def load_account(sessions: Sessions, user_id: int) -> Account | None:
    """The active account with this id (None when deleted or deactivated)."""
    async with _reading(sessions) as session:
        row = await session.get(AdminUser, user_id)
        return _account(row) if row is not None and row.active else None


async def list_users(sessions: Sessions) -> list[Account]:
    async with _reading(sessions) as session:
        rows = (await session.scalars(select(AdminUser).order_by(AdminUser.username))).all()
        return [_account(row) for row in rows]


async def record_sign_out(sessions: Sessions, username: str) -> None:
    async with sessions.begin() as session:
        record(session, "sign_out", actor=username, target=username)


async def _locked_row(session: AsyncSession, username: str) -> AdminUser:
    row = await session.scalar(select(AdminUser).where(AdminUser.username == username).with_for_update())
    if row is None:
        raise AccountError(f"没有用户名为“{username}”的账号")
    return row


async def _other_active_reviewers(session: AsyncSession, username: str) -> int:
    count = await session.scalar(
        select(func.count())
        .select_from(AdminUser)
        .where(AdminUser.role == Role.REVIEWER.value, AdminUser.active, AdminUser.username != username)
    )
    return int(count or 0)


async def set_role(sessions: Sessions, username: str, role: Role | str, *, actor: str | None) -> Account:
    role = role if isinstance(role, Role) else parse_role(role)
    async with sessions.begin() as session:
        row = await _locked_row(session, username)
        if row.role == role.value:
            return _account(row)
        if (
            row.role == Role.REVIEWER.value
            and row.active
            and not await _other_active_reviewers(session, username)
        ):
            raise AccountError("这是最后一位在用的审核员，不能改为志愿者（否则没有人能发布和管理账号）")
        before = row.role
        row.role = role.value
        await revoke_all(session, row.id, datetime.now(UTC))  # the new role applies from a new sign-in
        record(session, "user_changed", actor=actor, target=username, detail=f"role {before}→{role.value}")
        return _account(row)


async def set_active(sessions: Sessions, username: str, active: bool, *, actor: str | None) -> Account:
    """Deactivate (sessions of the account end at their next request) or reactivate an account."""
    async with sessions.begin() as session:
        row = await _locked_row(session, username)
        if row.active == active:
            return _account(row)
        if (
            not active
            and row.role == Role.REVIEWER.value
            and not await _other_active_reviewers(session, username)
        ):
            raise AccountError("这是最后一位在用的审核员，不能停用")
        row.active = active
        await revoke_all(session, row.id, datetime.now(UTC))
        if active:
            row.failed_logins = 0
            row.locked_until = None
        record(
            session,
            "user_changed",
            actor=actor,
            target=username,
            detail="activated" if active else "deactivated",
        )
        return _account(row)


async def set_password(sessions: Sessions, username: str, password: str, *, actor: str | None) -> Account:
    """A new password (and the lock lifted); every open session of the account ends."""
    problem = password_problem(password)
    if problem:
        raise AccountError(problem)
    password_hash = await anyio.to_thread.run_sync(_hasher.hash, password)
    async with sessions.begin() as session:
        row = await _locked_row(session, username)
        row.password_hash = password_hash
        await revoke_all(session, row.id, datetime.now(UTC))
        row.failed_logins = 0
        row.locked_until = None
        record(session, "user_changed", actor=actor, target=username, detail="password reset")
        return _account(row)


async def deactivate(sessions: Sessions, username: str, *, actor: str | None) -> Account:
    return await set_active(sessions, username, False, actor=actor)
