from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.nlu.evaluation import Gold, Predicted, format_report, read_gold, score, withhold_texts


def test_scores_intents_types_and_urgent() -> None:
    gold = [
        Gold("a", "report_dispute", "labor"),
        Gold("b", "report_dispute", "debt"),
        Gold("c", "ask_legal", "labor"),
        Gold("d", "urgent_risk", None),
        Gold("e", "greet", None),
    ]
    predicted = [
        Predicted("report_dispute", "labor", False),
        Predicted("report_dispute", "labor", False),  # debt mistaken for labor
        Predicted("report_dispute", "labor", False),  # intent wrong, type right
        Predicted("urgent_risk", None, True),
        Predicted("greet", None, True),  # false alarm
    ]
    report = score(gold, predicted, ["labor", "debt"])
    assert report.intent_accuracy == pytest.approx(4 / 5)
    assert report.dispute_type_accuracy == pytest.approx(2 / 3)
    assert report.per_type["labor"].recall == 1.0
    assert report.per_type["labor"].precision == pytest.approx(2 / 3)
    assert report.per_type["debt"].recall == 0.0
    assert report.dispute_type_macro_f1 == pytest.approx((0.8 + 0.0) / 2)
    assert report.urgent_recall == 1.0
    assert report.urgent_false_alarm_rate == pytest.approx(1 / 4)
    assert ("report_dispute/debt", "report_dispute/labor", 1) in report.confusions
    text = format_report(report)
    assert "dispute-type accuracy:    66.7%" in text
    assert "false alarms:" in text


def test_a_broken_line_is_reported_with_its_number(tmp_path: Path) -> None:
    path = tmp_path / "set.jsonl"
    path.write_text(json.dumps({"text": "x", "intent": "greet"}) + "\n{oops\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"set.jsonl:2"):
        read_gold(path)


def test_a_sealed_report_keeps_its_figures_and_prints_no_message() -> None:
    gold = [
        Gold("我把药都准备好了", "urgent_risk", None, "alarm"),
        Gold("楼上漏水", "report_dispute", "neighbor", "none"),
    ]
    predicted = [
        Predicted("report_dispute", "neighbor", False, "none"),
        Predicted("urgent_risk", None, True, "alarm"),
    ]
    report = withhold_texts(score(gold, predicted, ["neighbor"]))
    text = format_report(report)
    assert "urgent recall:            0.0%" in text
    assert "我把药" not in text and "楼上漏水" not in text
    assert "我把药" not in json.dumps(report.as_dict(), ensure_ascii=False)
