"""Kill the bot (SIGKILL) mid-conversation and after a confirmed report: after a restart the
conversation continues where it was, and nothing is lost or duplicated."""

from __future__ import annotations

import json
import os
import selectors
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from bot.dialogs.replies import Replies
from bot.nlu.server import ManagedRasaServer
from bot.settings import Settings
from tests.conftest import question_in, report_answer

pytestmark = pytest.mark.rasa

BOT = str(Path(sys.executable).parent / "bot")
#: Does not say who the other party is: the report asks, and the first test stops there.
REPORT = "我的工资被拖欠了 一直不给 帮我处理一下"


def _env(settings: Settings, rasa: ManagedRasaServer) -> dict[str, str]:
    env = {
        **os.environ,
        "BOT_NLU_URL": rasa.url,
        "BOT_NLU_TOKEN": rasa.token,
        "BOT_DATA_DIR": str(settings.data_dir),
    }
    if settings.database_url:
        env["BOT_DATABASE_URL"] = settings.database_url
    return env


class Chat:
    """`bot chat --jsonl` as a child process."""

    def __init__(self, env: dict[str, str], user: str) -> None:
        self.process = subprocess.Popen(
            [BOT, "chat", "--jsonl", "--user", user],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            env=env,
            text=True,
            encoding="utf-8",
        )
        self._selector = selectors.DefaultSelector()
        assert self.process.stdout is not None
        self._selector.register(self.process.stdout, selectors.EVENT_READ)

    def send(self, text: str) -> None:
        assert self.process.stdin is not None
        self.process.stdin.write(json.dumps({"text": text}, ensure_ascii=False) + "\n")
        self.process.stdin.flush()

    def receive(self, timeout: float = 60) -> dict[str, Any]:
        assert self.process.stdout is not None
        if not self._selector.select(timeout):
            raise TimeoutError("no reply from bot chat")
        line = self.process.stdout.readline()
        assert line, "bot chat closed its output"
        reply: dict[str, Any] = json.loads(line)
        return reply

    def ask(self, text: str) -> dict[str, Any]:
        self.send(text)
        return self.receive()

    def answer_until(self, replies: Replies, stop: str, *, phone: str) -> None:
        """Report a dispute, answering what the bot asks, until it asks ``stop`` (a reply key),
        which is left unanswered."""
        reply = self.ask(REPORT)
        for _ in range(20):
            asked = question_in(replies, "\n".join(reply["replies"]))
            assert asked is not None, reply
            if asked == stop:
                return
            reply = self.ask(report_answer(asked, phone=phone))
        raise AssertionError(f"the report never asked {stop}")

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()
        self._selector.close()
        for pipe in (self.process.stdin, self.process.stdout):
            if pipe is not None:
                pipe.close()


def _cases(env: dict[str, str], user_marker: str) -> list[dict[str, Any]]:
    out = subprocess.run(
        [BOT, "cases", "list", "--json"], env=env, capture_output=True, text=True, check=True
    )
    rows = [json.loads(line) for line in out.stdout.splitlines() if line.strip()]
    return [r for r in rows if r["phone"] == user_marker]


@pytest.fixture
def env(db_settings: Settings, rasa_server: ManagedRasaServer) -> dict[str, str]:
    return _env(db_settings, rasa_server)


@pytest.fixture(scope="module")
def replies(settings: Settings) -> Replies:
    return Replies.load(settings.knowledge_dir)


def test_killed_mid_conversation_the_resident_continues_where_they_were(
    env: dict[str, str], replies: Replies
) -> None:
    user = f"crash-{uuid.uuid4().hex[:8]}"
    chat = Chat(env, user)
    chat.answer_until(replies, "report.ask_other_party", phone="13812345678")
    chat.kill()
    chat = Chat(env, user)
    reply = chat.ask("跳过")  # the answer to the question asked before the kill (the other party)
    assert "怎么称呼" in reply["replies"][0]
    chat.kill()


def test_killed_after_confirming_the_report_is_kept_once(env: dict[str, str], replies: Replies) -> None:
    user = f"crash-{uuid.uuid4().hex[:8]}"
    phone = f"139{uuid.uuid4().int % 10**8:08d}"
    masked = f"139****{phone[-4:]}"
    chat = Chat(env, user)
    chat.answer_until(replies, "report.summary", phone=phone)
    receipt = chat.ask("确认")
    assert "编号" in receipt["replies"][0]
    chat.kill()
    cases = _cases(env, masked)
    assert len(cases) == 1
    chat = Chat(env, user)
    listing = chat.ask("查进度")
    assert cases[0]["reference"] in listing["replies"][0]
    chat.kill()
    assert len(_cases(env, masked)) == 1


def test_killed_while_the_confirmation_is_being_handled(env: dict[str, str], replies: Replies) -> None:
    """Killed before the reply came back: the turn either committed whole or not at all."""
    user = f"crash-{uuid.uuid4().hex[:8]}"
    phone = f"137{uuid.uuid4().int % 10**8:08d}"
    masked = f"137****{phone[-4:]}"
    chat = Chat(env, user)
    chat.answer_until(replies, "report.summary", phone=phone)
    chat.send("确认")
    time.sleep(0.05)
    chat.kill()
    before = len(_cases(env, masked))
    assert before in (0, 1)
    chat = Chat(env, user)
    reply = chat.ask("确认")
    if before == 0:  # the turn did not commit: the summary is still waiting for confirmation
        assert "编号" in reply["replies"][0]
    chat.kill()
    assert len(_cases(env, masked)) == 1
