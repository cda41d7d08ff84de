"""The `bot nlu` command-line contract, run as a resident of the shell would run it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from bot.nlu.server import ManagedRasaServer, free_port
from bot.settings import Settings

pytestmark = pytest.mark.rasa

BOT = str(Path(sys.executable).parent / "bot")


def run_bot(
    args: list[str], settings: Settings, *, stdin: str = "", **env: str
) -> subprocess.CompletedProcess[str]:
    environment = {**os.environ, "BOT_DATA_DIR": str(settings.data_dir), **env}
    return subprocess.run(
        [BOT, *args], input=stdin, capture_output=True, text=True, env=environment, timeout=600, check=False
    )


def test_classify_writes_one_json_object_per_line(rasa_server: ManagedRasaServer, settings: Settings) -> None:
    lines = ["公司拖欠工资三个月了", "", "😡😡", "他拿着刀在我家门口", "你好"]
    result = run_bot(
        ["nlu", "classify"], settings, stdin="\n".join(lines) + "\n",
        BOT_NLU_URL=rasa_server.url, BOT_NLU_TOKEN=rasa_server.token,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["text"] for r in rows] == lines
    for row in rows:
        assert {"text", "intent", "dispute_type", "confidence", "urgent"} <= set(row)
    assert (rows[0]["intent"], rows[0]["dispute_type"]) == ("report_dispute", "labor")
    assert (
        rows[3]["urgent"] is True and rows[3]["intent"] == "urgent_risk" and rows[3]["dispute_type"] is None
    )
    assert rows[4]["intent"] == "greet" and rows[4]["dispute_type"] is None


def test_classify_reports_the_danger_tier(rasa_server: ManagedRasaServer, settings: Settings) -> None:
    lines = [
        "农药已经买回来放在床头了 孩子以后就托付给他姥姥",  # the means and a farewell, no alarming word
        "他说迟早让我好看 我有点怕他哪天真动手",  # a vague threat: ask
        "那家店杀熟 砍价砍了半天还是贵 气死我了",  # figures of speech
        "去年被邻居打伤了 派出所处理过了 现在想要医药费",  # violence over, reported for handling
    ]
    result = run_bot(
        ["nlu", "classify"], settings, stdin="\n".join(lines) + "\n",
        BOT_NLU_URL=rasa_server.url, BOT_NLU_TOKEN=rasa_server.token,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [r["risk"] for r in rows] == ["alarm", "check", "none", "none"]
    for row in rows:
        assert row["urgent"] is (row["risk"] == "alarm")
        assert set(row["risk_scores"]) == {"alarm", "check", "none"}
    assert rows[0]["intent"] == "urgent_risk" and rows[0]["dispute_type"] is None
    assert rows[1]["intent"] == "report_dispute"
    assert (rows[3]["intent"], rows[3]["dispute_type"]) == ("report_dispute", "neighbor")


def test_classify_starts_its_own_server_when_none_answers(settings: Settings) -> None:
    result = run_bot(
        ["nlu", "classify"], settings, stdin="楼上漏水\n", BOT_NLU_URL=f"http://127.0.0.1:{free_port()}",
        BOT_NLU_PORT=str(free_port()),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    row = json.loads(result.stdout)
    assert row["dispute_type"] == "neighbor"


def test_eval_prints_the_figures(rasa_server: ManagedRasaServer, settings: Settings, tmp_path: Path) -> None:
    dev = tmp_path / "dev.jsonl"
    rows = [
        {"text": "老板不发工资", "intent": "report_dispute", "dispute_type": "labor"},
        {"text": "我不想活了", "intent": "urgent_risk", "dispute_type": None},
        {"text": "谢谢", "intent": "thanks", "dispute_type": None},
    ]
    dev.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows), encoding="utf-8")
    result = run_bot(
        ["nlu", "eval", str(dev), "--json"],
        settings,
        BOT_NLU_URL=rasa_server.url,
        BOT_NLU_TOKEN=rasa_server.token,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["count"] == 3
    assert report["urgent_recall"] == 1.0
    assert set(report) >= {"intent_accuracy", "dispute_type_accuracy", "dispute_type_macro_f1", "per_type"}


def test_train_skips_when_nothing_changed(settings: Settings, trained_model: Path) -> None:
    result = run_bot(["nlu", "train"], settings)
    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout


def test_find_python310_fails_with_a_clear_message() -> None:
    script = Path(__file__).resolve().parent.parent / "scripts" / "find-python310"
    bogus = subprocess.run(
        [str(script)],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "BOT_RASA_PYTHON": "/nope"},
    )
    assert bogus.returncode == 1 and "not a Python 3.10" in bogus.stderr
    none = subprocess.run([str(script)], capture_output=True, text=True, env={"PATH": "/nonexistent"})
    assert none.returncode == 1 and "needs Python 3.10" in none.stderr


@pytest.mark.parametrize(
    "args",
    [
        ["nlu", "eval", "tests/data/nlu_dev.jsonl"],
        ["dialog", "eval", "tests/data/moves_dev.jsonl"],
        ["faq", "eval", "tests/data/faq_dev.jsonl", "--nlu"],
    ],
)
def test_an_evaluation_scores_the_model_on_disk_and_never_trains_one(
    args: list[str], settings: Settings, tmp_path: Path
) -> None:
    """Training when the data changed would score a model the figures do not name (and could
    score data the set was meant to judge): with no model for the data as it is, it stops."""
    result = run_bot(args, settings, BOT_MODEL_DIR=str(tmp_path), BOT_NLU_URL="")
    assert result.returncode == 2, result.stdout + result.stderr
    assert "make model" in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing was trained
