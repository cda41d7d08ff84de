"""``bot run``: the whole bot on one port (web chat now; webhooks and the admin console later)."""

from __future__ import annotations

import typer
import uvicorn

from bot.app import create_app
from bot.logs import configure_logging
from bot.settings import Settings


def run_command() -> None:
    """Start the bot (and, on embedded defaults, its Rasa server) and serve HTTP."""
    settings = Settings()
    configure_logging(settings.log_level)
    base = f"http://{settings.http_host}:{settings.http_port}"
    typer.echo(f"网页聊天 / web chat:  {base}/chat")
    typer.echo(f"health:              {base}/healthz  {base}/readyz")
    typer.echo("(the NLU server takes about half a minute to load; Ctrl-C stops everything)")
    uvicorn.run(
        create_app(settings),
        host=settings.http_host,
        port=settings.http_port,
        log_level="warning",
        access_log=False,
    )
