"""``bot telegram …``: register the webhook with Telegram, or talk to Telegram by long polling
(development, no public address needed)."""

from __future__ import annotations

import asyncio

import typer
from pydantic import SecretStr
from telegram import Bot

from bot.dialogs.replies import Replies
from bot.logs import configure_logging
from bot.settings import Settings
from bot.telegram.application import ALLOWED_UPDATES, file_base_url
from bot.telegram.polling import poll
from bot.telegram.runtime import TelegramChannel, telegram_runtime
from bot.wiring import runtime

telegram_app = typer.Typer(help="Telegram: webhook registration, polling.", no_args_is_help=True)

NOT_CONFIGURED = "Telegram is off: set BOT_TELEGRAM_TOKEN (from @BotFather) and BOT_TELEGRAM_SECRET."


def _configured() -> Settings:
    settings = Settings()
    configure_logging(settings.log_level)
    if settings.telegram_token is None or settings.telegram_secret is None:
        typer.echo(NOT_CONFIGURED, err=True)
        raise typer.Exit(code=2)
    return settings


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value else ""


@telegram_app.command("set-webhook")
def set_webhook() -> None:
    """Tell Telegram to send updates to BOT_TELEGRAM_WEBHOOK_URL, with the webhook secret."""
    settings = _configured()
    if not settings.telegram_webhook_url or not settings.telegram_webhook_url.startswith("https://"):
        typer.echo(
            "Set BOT_TELEGRAM_WEBHOOK_URL to the public https:// address of /telegram/webhook.", err=True
        )
        raise typer.Exit(code=2)
    url, api = settings.telegram_webhook_url, settings.telegram_api_url
    token, secret = _secret(settings.telegram_token), _secret(settings.telegram_secret)

    async def run() -> bool:
        async with Bot(token, base_url=api, base_file_url=file_base_url(api)) as bot:
            return await bot.set_webhook(url, secret_token=secret, allowed_updates=ALLOWED_UPDATES)

    done = asyncio.run(run())
    typer.echo(f"webhook {'set' if done else 'NOT set'}: {url}")
    if not done:
        raise typer.Exit(code=1)


@telegram_app.command("poll")
def poll_command() -> None:
    """Run the bot on Telegram by long polling (removes the webhook); Ctrl-C stops."""
    settings = _configured()
    typer.echo("starting… (the NLU server takes a minute to load its model; Ctrl-C stops)")

    async def run() -> None:
        async with runtime(settings) as rt:
            started = rt.adapters.get("telegram")  # the runtime's own channel, when it starts one
            if isinstance(started, TelegramChannel):
                await poll(started)
                return
            replies = Replies.load(settings.knowledge_dir)
            async with telegram_runtime(settings, rt.database, rt.engine, replies) as channel:
                await poll(channel)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        typer.echo("stopped")
