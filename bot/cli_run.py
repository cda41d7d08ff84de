"""``bot run``: the whole bot on one port (web chat; webhooks and the admin console later), with
its Rasa server and — unless BOT_BACKEND_URL names the centre's case system — the embedded
reference case desk beside it."""

from __future__ import annotations

import os
import stat

import typer
import uvicorn

from bot.app import create_app
from bot.logs import configure_logging
from bot.settings import Environment, Settings
from bot.timing import StampingH11Protocol
from bot.wiring import Runtime


def _demo_account(settings: Settings) -> str:
    """The embedded desk's demo staff account: created at the first start, shown at every start."""
    from casedesk.demo import ensure_demo_staff
    from casedesk.settings import Settings as DeskSettings

    desk = DeskSettings(data_dir=settings.data_dir / "casedesk", database_url=None)
    remembered = desk.data_dir / "demo-password.txt"
    created = ensure_demo_staff(desk)
    if created is not None:
        desk.data_dir.mkdir(parents=True, exist_ok=True)
        remembered.write_text(created[1], encoding="utf-8")
        os.chmod(remembered, stat.S_IRUSR | stat.S_IWUSR)
    if remembered.exists():
        if settings.env is Environment.PRODUCTION:  # stdout ends up in logs: say where, not what
            return f"demo (password in {remembered}, readable by this user only)"
        return f"demo / {remembered.read_text(encoding='utf-8').strip()}"
    return "demo (reset: python -m casedesk create-staff demo --password-stdin --reset-password)"


def run_command() -> None:
    """Start the bot (and, on embedded defaults, its Rasa server and case desk) and serve HTTP."""
    settings = Settings()
    configure_logging(settings.log_level)
    base = f"http://{settings.http_host}:{settings.http_port}"
    account = None if settings.backend_url else _demo_account(settings)
    typer.echo("starting… (the NLU server takes a minute to load its model; Ctrl-C stops everything)")

    def ready(rt: Runtime) -> None:
        typer.echo(f"网页聊天 / web chat:      {base}/chat")
        if rt.backend is not None and rt.backend.managed is not None:
            typer.echo(f"案件台 / case desk:       {rt.backend.url}/login   staff account: {account}")
        typer.echo(f"FAQ管理台 / FAQ console:  {base}/admin   (accounts: bot admin create-user NAME)")
        typer.echo(f"health:                  {base}/healthz  {base}/readyz  {base}/metrics")

    uvicorn.run(
        create_app(settings, on_ready=ready),
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        access_log=False,
        # HTTP/1.1 as uvicorn's h11 protocol, stamping each request's arrival when its first
        # bytes are read: deadlines (WeChat's five seconds) count from there (bot/timing.py).
        http=StampingH11Protocol,
    )
