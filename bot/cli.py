"""The ``bot`` command."""

from __future__ import annotations

import typer

from bot.cli_nlu import nlu_app

app = typer.Typer(help="Chatbot front door for dispute-resolution centres.", no_args_is_help=True)
app.add_typer(nlu_app, name="nlu")


if __name__ == "__main__":  # pragma: no cover
    app()
