"""The ``bot`` command."""

from __future__ import annotations

import typer

from bot.cli_admin import admin_app
from bot.cli_chat import chat_command
from bot.cli_dialog import dialog_app
from bot.cli_faq import faq_app
from bot.cli_jobs import jobs_app
from bot.cli_nlu import nlu_app
from bot.cli_ops import cases_app, db_app
from bot.cli_run import run_command
from bot.cli_telegram import telegram_app
from bot.cli_wechat import wechat_app

app = typer.Typer(help="Chatbot front door for dispute-resolution centres.", no_args_is_help=True)
app.add_typer(nlu_app, name="nlu")
app.add_typer(db_app, name="db")
app.add_typer(cases_app, name="cases")
app.add_typer(jobs_app, name="jobs")
app.add_typer(wechat_app, name="wechat")
app.add_typer(telegram_app, name="telegram")
app.add_typer(faq_app, name="faq")
app.add_typer(admin_app, name="admin")
app.add_typer(dialog_app, name="dialog")
app.command("chat")(chat_command)
app.command("run")(run_command)


if __name__ == "__main__":  # pragma: no cover
    app()
