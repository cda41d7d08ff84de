"""The training data keeps the label contract and the coverage the NLU needs."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path

import pytest

from bot.dialogs.move_model import CORPUS_DIR as MOVE_CORPUS
from bot.nlu.dedupe import NearDuplicates, skeleton
from bot.nlu.labels import DisputeCatalog, Intent, split_label
from bot.nlu.normalize import normalize_text
from bot.nlu.training import fingerprint, load_training_data, plain, write_training_file
from bot.settings import Settings

CONTRACT_TYPES = [
    "neighbor", "family", "labor", "property_mgmt", "housing", "land", "debt",
    "consumer", "traffic", "medical", "demolition", "environment", "other",
]  # fmt: skip


@pytest.fixture(scope="module")
def examples(settings: Settings) -> dict[str, list[str]]:
    data = load_training_data(settings.nlu_project_dir)
    return {label: data.texts(label) for label in data.examples}


def test_dispute_types_are_read_from_knowledge_in_contract_order(settings: Settings) -> None:
    catalog = DisputeCatalog.load(settings.knowledge_dir)
    assert list(catalog.codes) == CONTRACT_TYPES
    assert catalog.get("labor").name == "劳动争议"


def test_every_label_is_in_the_contract(examples: dict[str, list[str]], settings: Settings) -> None:
    catalog = DisputeCatalog.load(settings.knowledge_dir)
    for label in examples:
        intent, dispute_type = split_label(label)
        assert Intent(intent)
        assert (dispute_type is not None) == Intent(intent).carries_dispute_type, label
        assert dispute_type is None or dispute_type in catalog, label


def test_the_corpus_has_the_breadth_the_nlu_needs(settings: Settings) -> None:
    """≥ 8,000 messages after near-copies are dropped: ≥ 300 per dispute type, ≥ 200 per intent,
    ≥ 800 dangerous (alarm or check) and ≥ 800 hard negatives (the batches written as such)."""
    data = load_training_data(settings.nlu_project_dir)
    per_intent: Counter[str] = Counter()
    per_type: Counter[str] = Counter()
    risks: Counter[str] = Counter()
    for label, items in data.examples.items():
        intent, dispute_type = split_label(label)
        per_intent[intent] += len(items)
        per_type[dispute_type or ""] += len(items) if dispute_type else 0
        risks.update(e.risk for e in items)
    assert sum(per_intent.values()) >= 8000
    assert min(per_type[t] for t in CONTRACT_TYPES) >= 300, per_type
    assert min(per_intent.values()) >= 200, per_intent
    assert risks["alarm"] + risks["check"] >= 800, risks
    corpus = settings.nlu_project_dir / "data" / "corpus"
    negatives = sum(
        1
        for path in corpus.glob("*.jsonl")
        if "negatives" in path.name or "lookalikes" in path.name
        for line in path.read_text(encoding="utf-8").splitlines()
        if line.strip()
    )
    assert negatives >= 800


def test_no_evaluation_message_is_in_the_training_data(settings: Settings) -> None:
    """Evaluation and sealed sets stay unseen: no training message nearly copies one of them."""
    data = load_training_data(settings.nlu_project_dir)
    near = NearDuplicates()
    for items in data.examples.values():
        for example in items:
            near.seen(plain(example.text))
    leaked = []
    for path in sorted((Path(__file__).parent / "data").rglob("*.jsonl")):
        if not path.name.startswith(("nlu_", "public_")):
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            text = normalize_text(json.loads(line)["text"]) if line.strip() else ""
            if len(skeleton(text)) >= 6 and near.seen(text, remember=False):
                leaked.append(f"{path.name}:{number}")  # never the text: sealed sets stay unread
    assert not leaked, f"run scripts/decontaminate_corpus.py; near-copies of {leaked}"


def test_no_move_evaluation_reply_is_in_the_move_corpus() -> None:
    """The learned move reader never trained on a dev or sealed reply (of six characters or more:
    "上一步" and "转人工" are formulae everyone writes)."""
    near = NearDuplicates()
    for path in sorted(MOVE_CORPUS.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                near.seen(normalize_text(json.loads(line)["text"]))
    leaked = []
    for path in sorted((Path(__file__).parent / "data").rglob("moves_*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            text = normalize_text(json.loads(line)["text"]) if line.strip() else ""
            if len(skeleton(text)) >= 6 and near.seen(text, remember=False):
                leaked.append(f"{path.name}:{number}")  # never the text: sealed sets stay unread
    assert not leaked, f"run scripts/decontaminate_corpus.py; near-copies of {leaked}"


def test_near_copies_are_found_across_wording_noise() -> None:
    near = NearDuplicates()
    assert not near.seen("楼上邻居天天半夜拖椅子，吵得全家睡不着，麻烦你们来调解一下")
    assert near.seen("楼上邻居天天半夜拖椅子 吵得全家睡不着!! 麻烦你们来调解一下吧")
    assert not near.seen("公司拖欠我三个月工资，老板一直躲着不见人，想申请劳动仲裁")


def test_at_least_40_examples_per_intent_and_per_dispute_type(examples: dict[str, list[str]]) -> None:
    per_intent: Counter[str] = Counter()
    per_type: Counter[str] = Counter()
    for label, items in examples.items():
        intent, dispute_type = split_label(label)
        per_intent[intent] += len(items)
        if dispute_type:
            per_type[dispute_type] += len(items)
    assert {i.value for i in Intent} <= set(per_intent)
    assert min(per_intent.values()) >= 40, per_intent
    assert set(per_type) == set(CONTRACT_TYPES)
    assert min(per_type.values()) >= 40, per_type


def test_training_text_is_normalised_and_keeps_annotations(examples: dict[str, list[str]]) -> None:
    everything = [e for items in examples.values() for e in items]
    assert not any("樓" in e or "鄰" in e for e in everything)  # Traditional converted
    assert not any("１" in e for e in everything)  # full-width digits converted
    assert any("](phone)" in e for e in everything)
    assert any("](case_no)" in e for e in everything)


def test_the_same_text_under_two_labels_is_dropped(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.yml").write_text(
        'version: "3.1"\nnlu:\n- intent: greet\n  examples: |\n    - 你好\n    - 在吗\n'
        "- intent: thanks\n  examples: |\n    - 你好\n    - 谢谢\n",
        encoding="utf-8",
    )
    loaded = load_training_data(tmp_path)
    assert {label: loaded.texts(label) for label in loaded.examples} == {
        "greet": ["在吗"],
        "thanks": ["谢谢"],
    }
    assert loaded.dropped_conflicts == 1
    write_training_file(loaded, tmp_path / "out.yml")
    assert "在吗" in (tmp_path / "out.yml").read_text(encoding="utf-8")


def test_an_attack_string_stays_text_for_rasa(tmp_path: Path) -> None:
    """Rasa expands ${NAME} in training YAML and fails when NAME is unset."""
    corpus = tmp_path / "data" / "corpus"
    corpus.mkdir(parents=True)
    line = {
        "text": "${jndi:ldap://example.org/a}",
        "intent": "out_of_scope",
        "dispute_type": None,
        "risk": "none",
    }
    (corpus / "noise.jsonl").write_text(json.dumps(line) + "\n", encoding="utf-8")
    write_training_file(load_training_data(tmp_path), tmp_path / "out.yml")
    written = (tmp_path / "out.yml").read_text(encoding="utf-8")
    assert "jndi:ldap" in written and "${" not in written


def test_fingerprint_changes_with_data_and_not_otherwise(tmp_path: Path, settings: Settings) -> None:
    project = tmp_path / "bot" / "nlu"
    shutil.copytree(settings.nlu_project_dir / "data", project / "data")
    shutil.copytree(settings.nlu_project_dir / "jieba_dict", project / "jieba_dict")
    config = settings.nlu_project_dir / "config.yml"
    before = fingerprint(project, config)
    assert fingerprint(project, config) == before
    with (project / "data" / "nlu" / "intents.yml").open("a", encoding="utf-8") as f:
        f.write("\n")
    assert fingerprint(project, config) != before
