"""``python -m casedesk``: serve the desk, create staff accounts, run a demo."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
import uvicorn

from casedesk.accounts import AccountError, create_staff
from casedesk.app import create_app
from casedesk.demo import DEMO_USER, ensure_demo_staff, sign_in_url
from casedesk.settings import Settings

app = typer.Typer(
    help="参考案件台 (the reference case desk): the case-system API and staff pages.", no_args_is_help=True
)


def _serve(settings: Settings) -> None:
    uvicorn.run(create_app(settings), host=settings.host, port=settings.port, proxy_headers=False)


def _settings(host: str | None, port: int | None) -> Settings:
    settings = Settings()
    updates = {key: value for key, value in (("host", host), ("port", port)) if value is not None}
    return settings.model_copy(update=updates) if updates else settings


Host = Annotated[str | None, typer.Option(help="Bind address (default CASEDESK_HOST, 127.0.0.1)")]
Port = Annotated[int | None, typer.Option(help="Port (default CASEDESK_PORT, 8100)")]


@app.command()
def serve(host: Host = None, port: Port = None) -> None:
    """Serve the API and the staff pages."""
    _serve(_settings(host, port))


@app.command("create-staff")
def create_staff_command(
    name: Annotated[str, typer.Argument(help="The sign-in name")],
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input (one line)")
    ] = False,
    display_name: Annotated[str | None, typer.Option(help="The name colleagues and residents see")] = None,
    reset_password: Annotated[
        bool, typer.Option("--reset-password", help="Set a new password (and unlock) if the account exists")
    ] = False,
) -> None:
    """Create a staff account (the password never goes on the command line)."""
    if not password_stdin:
        typer.echo("give the password on standard input: --password-stdin", err=True)
        raise typer.Exit(2)
    password = sys.stdin.readline().rstrip("\r\n")
    try:
        staff = create_staff(
            Settings(), name, password, display_name=display_name, reset_password=reset_password
        )
    except AccountError as error:
        typer.echo(str(error), err=True)
        raise typer.Exit(1) from error
    typer.echo(f"staff account {staff.username} ({staff.display_name}) is ready")


@app.command()
def demo(host: Host = None, port: Port = None) -> None:
    """Create the demo staff account if there is none, print how to sign in, then serve."""
    settings = _settings(host, port)
    created = ensure_demo_staff(settings)
    typer.echo(f"案件台 sign-in: {sign_in_url(settings)}")
    if created is not None:
        user, password = created
        typer.echo(f"  user: {user}\n  password: {password}")
    else:
        typer.echo(
            f"  user: {DEMO_USER} (exists; its password is unchanged — set a new one with "
            f"`python -m casedesk create-staff {DEMO_USER} --password-stdin --reset-password`)"
        )
    typer.echo(f"  API: http://{settings.host}:{settings.port}/api/v1 (token: CASEDESK_API_TOKEN)")
    _serve(settings)


if __name__ == "__main__":  # pragma: no cover
    app()
