"""The training data keeps the label contract and the coverage the NLU needs."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import pytest

from bot.nlu.labels import DisputeCatalog, Intent, split_label
from bot.nlu.training import fingerprint, load_training_data, write_training_file
from bot.settings import Settings

CONTRACT_TYPES = [
    "neighbor", "family", "labor", "property_mgmt", "housing", "land", "debt",
    "consumer", "traffic", "medical", "demolition", "environment", "other",
]  # fmt: skip


@pytest.fixture(scope="module")
def examples(settings: Settings) -> dict[str, list[str]]:
    return load_training_data(settings.nlu_project_dir).examples


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
    assert loaded.examples == {"greet": ["在吗"], "thanks": ["谢谢"]}
    assert loaded.dropped_conflicts == 1
    write_training_file(loaded, tmp_path / "out.yml")
    assert "在吗" in (tmp_path / "out.yml").read_text(encoding="utf-8")


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
