"""``bot wechat …``: publish the official account's menu, refresh its access_token."""

from __future__ import annotations

import asyncio
import json
from typing import Annotated
from zoneinfo import ZoneInfo

import typer

from bot.logs import configure_logging
from bot.settings import Settings
from bot.storage.db import create_engine, sessions, sync_url
from bot.storage.migrate import upgrade
from bot.wechat.api import WeChatError
from bot.wechat.menu import MenuError, load_menu_json
from bot.wechat.parts import WeChatNotConfigured, credentials, token_refresher, wechat_api
from bot.wechat.token import TokenState

wechat_app = typer.Typer(help="The WeChat official account: menu and access_token.", no_args_is_help=True)


def _fail(message: str) -> typer.Exit:
    typer.echo(message, err=True)
    return typer.Exit(1)


async def _refresh_then(settings: Settings, publish: dict[str, object] | None) -> TokenState | None:
    """Make sure a token is stored (fetching one only if due), then publish the menu if given."""
    database = create_engine(settings)
    api = wechat_api(settings, database)
    try:
        refresher = token_refresher(settings, sessions(database), api)
        state = await refresher.run_once()
        if publish is not None:
            await api.create_menu(publish)
        return state
    finally:
        await api.aclose()
        await database.dispose()


def _prepared_settings() -> Settings:
    settings = Settings()
    configure_logging(settings.log_level)
    try:
        credentials(settings)
    except WeChatNotConfigured as exc:
        raise _fail(str(exc)) from None
    if sync_url(settings).startswith("sqlite"):
        upgrade(settings)  # the token lives in the database; the embedded one may be new
    return settings


@wechat_app.command("menu")
def menu(
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the menu JSON, publish nothing")] = False,
) -> None:
    """Publish knowledge/wechat_menu.yml as the account's custom menu."""
    try:
        payload = load_menu_json(Settings().knowledge_dir)
    except MenuError as exc:
        raise _fail(f"menu not published: {exc}") from None
    if dry_run:
        typer.echo(json.dumps(payload, ensure_ascii=False, indent=2))
        return
    settings = _prepared_settings()
    try:
        asyncio.run(_refresh_then(settings, payload))
    except WeChatError as exc:
        raise _fail(f"menu not published: {exc}") from None
    typer.echo(f"menu published: {len(payload['button'])} top-level buttons")


@wechat_app.command("token")
def token() -> None:
    """Fetch the access_token if it is missing or about to end; print until when it is valid."""
    settings = _prepared_settings()
    try:
        state = asyncio.run(_refresh_then(settings, None))
    except WeChatError as exc:
        raise _fail(f"no access_token: {exc}") from None
    if state is None:
        typer.echo("another process is refreshing the access_token right now; try again in a minute")
        return
    action = "fetched" if state.refreshed else "still valid"
    until = state.expires_at.astimezone(ZoneInfo(settings.timezone)).isoformat(timespec="seconds")
    typer.echo(f"access_token {action}, valid until {until}")
