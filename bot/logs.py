"""Structured logs on stderr, with personal data masked on the way out."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

from bot.privacy import mask_personal_data


def _mask_processor(_logger: Any, _name: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    return {k: mask_personal_data(v) if isinstance(v, str) else v for k, v in event.items()}


class _CurrentStderr:
    """Whatever ``sys.stderr`` is at the time of writing: loggers are cached on first use, and a
    stream captured then (a test runner's, a CLI runner's) may be closed by the next write."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(level: str = "INFO") -> None:
    logging.basicConfig(stream=sys.stderr, level=level.upper(), format="%(message)s")
    # httpx logs every request URL at INFO, and Rasa's auth token travels in the query string.
    for noisy in ("httpx", "httpcore", "apscheduler"):  # apscheduler: a line per job run
        logging.getLogger(noisy).setLevel(logging.WARNING)
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            # Tracebacks as plain text, before masking: never the rich renderer's local variables
            # (they hold residents' messages), and masked like every other string.
            structlog.processors.format_exc_info,
            _mask_processor,
            structlog.dev.ConsoleRenderer(colors=False),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(file=_CurrentStderr()),  # type: ignore[arg-type]
        cache_logger_on_first_use=True,
    )
