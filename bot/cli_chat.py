"""``bot chat``: talk to the real engine and NLU from a terminal, or from a program (--jsonl)."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from datetime import UTC, datetime
from typing import Annotated

import typer

from bot.dialogs.messages import Inbound, Outbound
from bot.logs import configure_logging
from bot.settings import Settings
from bot.wiring import runtime

CHANNEL = "console"


def _text_of(line: str) -> str:
    """A JSONL input line is plain text or {"text": ...}."""
    stripped = line.strip()
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped)
        except ValueError:
            return line
        if isinstance(value, dict) and isinstance(value.get("text"), str):
            return str(value["text"])
    return line


def _render(replies: tuple[Outbound, ...]) -> str:
    lines = []
    for reply in replies:
        lines.append(reply.text)
        if reply.options:
            lines.append("  " + " | ".join(f"[{o}]" for o in reply.options))
    return "\n".join(lines)


def chat_command(
    user: Annotated[str | None, typer.Option(help="Resident id (default: a new one per session)")] = None,
    jsonl: Annotated[
        bool, typer.Option("--jsonl", help="Machine form: one JSON line out per line in")
    ] = False,
) -> None:
    """Chat with the bot in the terminal."""
    settings = Settings()
    configure_logging("WARNING" if not jsonl else "ERROR")
    user_id = user or f"console-{uuid.uuid4().hex[:8]}"

    async def run() -> None:
        async with runtime(settings) as rt:
            if not jsonl:
                print("已连接。输入消息与机器人对话，Ctrl-D 退出。", file=sys.stderr)
            while True:
                if not jsonl:
                    print("> ", end="", file=sys.stderr, flush=True)
                line = await asyncio.to_thread(sys.stdin.readline)
                if not line:
                    break
                text = _text_of(line.rstrip("\r\n")) if jsonl else line.rstrip("\r\n")
                inbound = Inbound(
                    channel=CHANNEL,
                    user_id=user_id,
                    message_id=uuid.uuid4().hex,
                    text=text,
                    sent_at=datetime.now(UTC),
                )
                replies = await rt.engine.handle(inbound)
                if jsonl:
                    out = {
                        "replies": [r.text for r in replies],
                        "options": [o for r in replies for o in r.options],
                    }
                    sys.stdout.write(json.dumps(out, ensure_ascii=False) + "\n")
                else:
                    sys.stdout.write(_render(replies) + "\n")
                sys.stdout.flush()

    asyncio.run(run())
