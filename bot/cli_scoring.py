"""What the evaluation commands share: they score the NLU model on disk and never train one."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

import typer

from bot.nlu.training import StaleModel

T = TypeVar("T")


def run_scoring(work: Coroutine[Any, Any, T]) -> T:
    """Run an evaluation; when the model on disk is not the training data's, say so and stop."""
    try:
        return asyncio.run(work)
    except StaleModel as stale:
        typer.echo(str(stale), err=True)
        raise typer.Exit(2) from None
