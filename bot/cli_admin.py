"""``bot admin …``: accounts of the volunteers' console (``/admin``): create-user, set-role, deactivate,
activate, set-password.

The first reviewer is created here; after that reviewers can also manage accounts in the console.
Passwords are read from a hidden prompt (typed twice) or, for scripts, from stdin — never from
the command line, where they would stay in the shell history and the process list.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.admin.accounts import (
    AccountError,
    create_user,
    password_problem,
    set_active,
    set_password,
    set_role,
)
from bot.faq.actors import Role
from bot.logs import configure_logging
from bot.settings import Settings
from bot.storage.db import create_engine, sessions, sync_url
from bot.storage.migrate import upgrade

admin_app = typer.Typer(help="Accounts of the volunteers' FAQ console (/admin).", no_args_is_help=True)

T = TypeVar("T")
Sessions = async_sessionmaker[AsyncSession]
RoleOption = Annotated[Role, typer.Option("--role", help="volunteer (writes drafts) or reviewer (publishes)")]


def _run(action: Callable[[Sessions], Awaitable[T]]) -> T:
    settings = Settings()
    configure_logging(settings.log_level)
    if sync_url(settings).startswith("sqlite"):
        upgrade(settings)

    async def run() -> T:
        engine = create_engine(settings)
        try:
            return await action(sessions(engine))
        finally:
            await engine.dispose()

    try:
        return asyncio.run(run())
    except AccountError as error:
        typer.echo(f"error: {error}", err=True)
        raise typer.Exit(code=1) from None


def _password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    while True:
        password: str = typer.prompt("password", hide_input=True, confirmation_prompt=True)
        problem = password_problem(password)
        if problem is None:
            return password
        typer.echo(f"error: {problem}", err=True)


@admin_app.command("create-user")
def create_user_command(
    username: Annotated[str, typer.Argument(help="Sign-in name: 2–64 letters, digits, '_', '.' or '-'")],
    role: RoleOption = Role.VOLUNTEER,
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin")
    ] = False,
) -> None:
    """Create a console account (the password is asked for twice, hidden)."""
    password = _password(password_stdin)
    account = _run(lambda made: create_user(made, username, password, role, actor=None))
    typer.echo(f"created {account.role.value} {account.username!r}: sign in at /admin/login")


@admin_app.command("set-role")
def set_role_command(
    username: Annotated[str, typer.Argument(help="The account's sign-in name")],
    role: Annotated[Role, typer.Argument(help="volunteer or reviewer")],
) -> None:
    """Make an account a volunteer or a reviewer (its open sessions follow at once)."""
    account = _run(lambda made: set_role(made, username, role, actor=None))
    typer.echo(f"{account.username!r} is now a {account.role.value}")


@admin_app.command("deactivate")
def deactivate_command(username: Annotated[str, typer.Argument(help="The account's sign-in name")]) -> None:
    """Deactivate an account: it can no longer sign in, and its open sessions end."""
    account = _run(lambda made: set_active(made, username, False, actor=None))
    typer.echo(f"{account.username!r} is deactivated")


@admin_app.command("activate")
def activate_command(username: Annotated[str, typer.Argument(help="The account's sign-in name")]) -> None:
    """Let a deactivated account sign in again (its failed sign-ins are forgotten)."""
    account = _run(lambda made: set_active(made, username, True, actor=None))
    typer.echo(f"{account.username!r} is active")


@admin_app.command("set-password")
def set_password_command(
    username: Annotated[str, typer.Argument(help="The account's sign-in name")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from the first line of stdin")
    ] = False,
) -> None:
    """Give an account a new password (and lift a lock); its open sessions end."""
    password = _password(password_stdin)
    account = _run(lambda made: set_password(made, username, password, actor=None))
    typer.echo(f"new password set for {account.username!r}")
