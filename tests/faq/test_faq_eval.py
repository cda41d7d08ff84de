"""`bot faq eval`: the figures it prints on a small hand-made set, clear errors for broken sets,
and a quality gate on the dev set that fails when someone degrades retrieval."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from bot.cli_faq_eval import eval_command
from bot.faq.evaluate import answer, read_questions, score
from bot.faq.files import load_directory
from bot.faq.index import FaqIndex, Synonyms
from bot.nlu.classifier import Classifier
from bot.nlu.segment import Tokenizer
from bot.settings import PROJECT_ROOT, Settings

FAQ_YAML = """\
topic: test
faqs:
  - id: dog-bite
    question: 被狗咬了怎么办？
    paraphrases: [被邻居家的狗咬伤了谁赔, 狗咬人主人要负责吗, 打狂犬疫苗的钱谁出]
    answer: >-
      饲养的动物造成他人损害的，动物饲养人或者管理人应当承担侵权责任。
      请先去医院处理伤口、打狂犬疫苗，保留好票据。
    legal_basis: [{statute: 中华人民共和国民法典, article: 第一千二百四十五条}]
    dispute_type: neighbor
    reviewed: 2026-11-20
  - id: unpaid-wages
    question: 老板拖欠工资怎么办？
    paraphrases: [公司三个月没发工资, 工资一直拖着不给, 被欠薪去哪投诉]
    answer: >-
      用人单位应当按时足额支付劳动报酬。被拖欠时先保留好劳动合
      同、工资条、考勤记录等证据，可以投诉或者申请劳动仲裁。
    legal_basis: [{statute: 中华人民共和国劳动合同法, article: 第三十条}]
    dispute_type: labor
    reviewed: 2026-11-20
  - id: upstairs-noise
    question: 楼上邻居太吵怎么办？
    paraphrases: [楼上半夜还在蹦迪, 邻居装修噪音太大, 楼上小孩天天跑跳]
    answer: >-
      相邻各方应当按照方便生活、团结互助、公平合理的原则处理相邻关系。
      可以先和邻居沟通，不成可以申请人民调解。
    legal_basis: [{statute: 中华人民共和国民法典, article: 第二百八十八条}]
    dispute_type: neighbor
    reviewed: 2026-11-20
  - id: rent-deposit
    question: 房东不退押金怎么办？
    paraphrases: [退租了押金一直不还, 房东找理由扣押金, 搬走一个月了押金还没退]
    answer: >-
      退租时房屋没有超出正常使用的损坏，出租人应当按约定退还押金。
      请保留好租房合同和押金收据，先协商，不成可以申请调解。
    legal_basis: [{statute: 中华人民共和国民法典, article: 第七百三十三条}]
    dispute_type: housing
    reviewed: 2026-11-20
"""

LINES: list[dict[str, object]] = [
    {"text": "被狗咬了 打疫苗的钱谁出", "faq_id": "dog-bite"},  # right
    {"text": "老板欠了我两个月工资不给", "faq_id": "unpaid-wages"},  # right
    {"text": "楼上邻居天天半夜吵", "faq_id": "dog-bite"},  # wrong answer; dog-bite second
    {"text": "今天天气怎么样", "faq_id": "unpaid-wages"},  # not sure; not among the three
    {"text": "红烧肉怎么做才好吃", "faq_id": None},  # rightly not sure
    {"text": "房东扣着押金不退", "faq_id": None},  # a false answer
]

DEV_SET = PROJECT_ROOT / "tests" / "data" / "faq_dev.jsonl"


def run_eval(*args: str) -> tuple[int, str]:
    app = typer.Typer()
    app.command("eval")(eval_command)
    app.command("other")(lambda: None)  # two commands: `eval` stays a sub-command name
    result = CliRunner().invoke(app, ["eval", *args])
    return result.exit_code, result.output


@pytest.fixture
def faq_dir(tmp_path: Path) -> Path:
    directory = tmp_path / "faq"
    directory.mkdir()
    (directory / "test.yml").write_text(FAQ_YAML, encoding="utf-8")
    return directory


def write_set(path: Path, lines: list[dict[str, object]]) -> Path:
    path.write_text("".join(json.dumps(x, ensure_ascii=False) + "\n" for x in lines) + "\n", encoding="utf-8")
    return path


def test_counts_and_rates_of_a_small_set(faq_dir: Path, tmp_path: Path) -> None:
    dataset = write_set(tmp_path / "set.jsonl", LINES)
    code, output = run_eval(
        str(dataset), "--faq-dir", str(faq_dir), "--no-nlu", "--no-rerank", "--threshold", "2", "--json"
    )
    assert code == 0, output
    report = json.loads(output)
    assert (report["questions"], report["answerable"], report["unanswerable"]) == (6, 4, 2)
    assert report["top1"] == 0.5
    assert report["top3"] == 0.75
    assert report["wrong_answer_rate"] == 0.25
    assert report["not_sure_rate"] == 0.25
    assert report["false_answer_rate"] == 0.5
    # One wrong FAQ plus one answer to a question none should answer; one "not sure" each side.
    assert (report["wrong_answers"], report["not_sure"]) == (2, 2)
    assert report["wrong_less_often_than_not_sure"] is False
    assert report["per_topic"]["neighbor"] == {
        "questions": 2, "top1": 0.5, "top3": 1.0, "wrong_answer_rate": 0.5, "not_sure_rate": 0.0
    }  # fmt: skip
    assert report["per_topic"]["labor"]["top1"] == 0.5
    assert {(m["line"], m["answered"]) for m in report["mistakes"]} == {
        (3, "upstairs-noise"), (4, None), (6, "rent-deposit")
    }  # fmt: skip


def test_the_text_report_says_the_same(faq_dir: Path, tmp_path: Path) -> None:
    dataset = write_set(tmp_path / "set.jsonl", LINES)
    code, output = run_eval(
        str(dataset), "--faq-dir", str(faq_dir), "--no-nlu", "--no-rerank", "--threshold", "2", "--mistakes"
    )
    assert code == 0, output
    assert "top-1 accuracy:       50.0%" in output
    assert "top-3 accuracy:       75.0%" in output
    assert "false answer:         50.0% of unanswerable" in output
    assert "wrong < not sure:     NO (2 wrong answers, 2 not sure)" in output
    assert "3: dog-bite -> upstairs-noise" in output
    assert "楼上邻居天天半夜吵" in output


def test_an_unknown_faq_id_is_an_error_naming_the_line(faq_dir: Path, tmp_path: Path) -> None:
    dataset = write_set(tmp_path / "set.jsonl", [LINES[0], {"text": "调解收费吗", "faq_id": "no-such-faq"}])
    code, output = run_eval(str(dataset), "--faq-dir", str(faq_dir), "--no-nlu")
    assert code == 2
    assert "set.jsonl:2" in output and "no-such-faq" in output


def test_a_broken_line_is_an_error_naming_the_line(faq_dir: Path, tmp_path: Path) -> None:
    dataset = tmp_path / "set.jsonl"
    dataset.write_text('{"text": "x", "faq_id": null}\n{"text": "没有faq_id"}\n', encoding="utf-8")
    code, output = run_eval(str(dataset), "--faq-dir", str(faq_dir), "--no-nlu")
    assert code == 2
    assert "set.jsonl:2" in output


def test_residents_words_find_the_faqs_words(tokenizer: Tokenizer, settings: Settings) -> None:
    index = FaqIndex(
        load_directory(settings.knowledge_dir / "faq"), tokenizer, threshold=settings.faq_threshold
    )
    assert index.search("调委会出的协议书管用吗").candidates[0].faq.id == "general-mediation-agreement-effect"
    assert index.search("前夫一直不给扶养费").candidates[0].faq.id == "family-child-support"


def test_synonyms_are_rewritten_once_longest_first() -> None:
    synonyms = Synonyms({"保证人": "担保人", "保人": "担保人", "咋": "怎么", "咋办": "怎么办"})
    assert synonyms.rewrite("当了保证人咋办") == "当了担保人怎么办"
    assert synonyms.rewrite("咋回事") == "怎么回事"
    assert synonyms.rewrite("我是担保人") == "我是担保人"  # not 担 + 保人 rewritten


# --- the quality gate: the dev set scored as the bot answers (with the NLU's dispute type) ---
# Measured with 201 FAQs and the second stage (trained on this set, so in-sample: the holdout
# and sealed figures are in docs/faq-console.md): top-1 80.1%, top-3 96.4%, wrong 7.1% and not
# sure 12.8% of answerable questions, false answers 10.0% of unanswerable ones. The bounds leave
# a few questions of room for harmless changes, not for a real step back.


@pytest.mark.rasa
async def test_dev_set_quality_gate(classifier: Classifier, tokenizer: Tokenizer, settings: Settings) -> None:
    faqs = load_directory(settings.knowledge_dir / "faq")
    index = FaqIndex(faqs, tokenizer, threshold=settings.faq_threshold)
    outcomes = []
    for question in read_questions(DEV_SET, {f.id for f in faqs}):
        c = await classifier.classify(question.text)
        outcomes.append(answer(index, question, text=c.text, dispute_type=c.dispute_type))
    report = score(outcomes, {f.id: f.dispute_type for f in faqs}, threshold=index.threshold, nlu=True)
    a = report.answerable
    assert report.unanswerable >= 85 and a.questions >= 190
    # The second stage is strict (docs/faq-console.md): it seldom answers wrongly or answers a
    # question no FAQ covers, and when unsure it offers the likely FAQs, among which the right
    # one nearly always is. Measured 2026-12-07: right 30.6%, wrong 0.5%, top-3 96.4%, false 1.1%.
    assert a.right / a.questions >= 0.25
    assert a.in_top3 / a.questions >= 0.95
    assert a.wrong / a.questions <= 0.02
    assert report.false_answer_rate <= 0.05
    assert report.wrong_answers < report.not_sure


def test_dev_set_ranking_without_the_nlu(tokenizer: Tokenizer, settings: Settings) -> None:
    """Fast and without Rasa: the right FAQ ranks first (threshold aside) for most questions.
    Measured: first 87.8%, among the three 95.9%."""
    faqs = load_directory(settings.knowledge_dir / "faq")
    index = FaqIndex(faqs, tokenizer, threshold=settings.faq_threshold)
    answerable = [q for q in read_questions(DEV_SET, {f.id for f in faqs}) if q.faq_id]
    ranked = [[c.faq.id for c in index.search(q.text).candidates] for q in answerable]
    first = sum(ids[0] == q.faq_id for ids, q in zip(ranked, answerable, strict=True)) / len(answerable)
    top3 = sum(q.faq_id in ids for ids, q in zip(ranked, answerable, strict=True)) / len(answerable)
    assert first >= 0.86
    assert top3 >= 0.94
