"""Training the Rasa model: normalise the training data exactly as live messages are
normalised, and train only when the data, the pipeline or the normalisation changed.

Training data comes in two forms, both under ``bot/nlu/data``:

* Rasa YAML files (``nlu/*.yml``, the first hand-written set, and ``regexes.yml``);
* JSON Lines batches (``corpus/*.jsonl``), one labelled message a line as ``docs/labelling.md``
  defines it (intent, dispute type, risk tier), each batch written independently; their
  provenance is in ``corpus/PROVENANCE.md``.

Loading normalises every text, drops near-copies (the same skeleton of letters and characters,
or nearly the same character trigrams) and any text that appears under two labels, and writes
one Rasa file whose examples carry their risk tier as example metadata, where the pipeline's
``RiskClassifier`` reads it.
"""

from __future__ import annotations

import hashlib
import json
import re
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import yaml

from bot.nlu.dedupe import NearDuplicates, skeleton
from bot.nlu.labels import LABEL_SEPARATOR, Intent
from bot.nlu.normalize import NORMALIZER_VERSION, normalize_text
from bot.nlu.rasa_env import ADDONS_DIR, rasa_environment, rasa_executable
from bot.settings import PROJECT_ROOT, Settings

log = structlog.get_logger(__name__)

# A Rasa entity annotation: [value](entity)
_ANNOTATION = re.compile(r"\[([^\]]+)\]\(([a-z_]+)\)")
RISK_TIERS = ("alarm", "check", "none")


@dataclass(frozen=True, slots=True)
class Example:
    #: Normalised, with ``[value](entity)`` annotations kept.
    text: str
    risk: str = "none"


@dataclass(frozen=True, slots=True)
class TrainingData:
    examples: dict[str, list[Example]]
    regexes: list[dict[str, Any]]
    dropped_conflicts: int
    dropped_near_copies: int = 0

    def texts(self, label: str) -> list[str]:
        return [e.text for e in self.examples.get(label, [])]


def project_files(project_dir: Path, config: Path) -> list[Path]:
    data = sorted(p for p in (project_dir / "data").rglob("*") if p.suffix in (".yml", ".jsonl"))
    dictionary = sorted((project_dir / "jieba_dict").glob("*"))
    addons = sorted(ADDONS_DIR.rglob("*.py"))
    return [config, *data, *dictionary, *addons]


def fingerprint(project_dir: Path, config: Path) -> str:
    digest = hashlib.sha256(f"normalizer={NORMALIZER_VERSION}".encode())
    for path in project_files(project_dir, config):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


class StaleModel(RuntimeError):
    """No model was trained on the data as it is now, and the caller must not train one."""


def current_model(settings: Settings) -> Path:
    """The model of the data as it is, never training one (scores describe the model on disk:
    an evaluation that trained whenever the data changed could score data it was meant to judge)."""
    path = model_path(settings)
    if not path.exists():
        raise StaleModel(f"no NLU model for the training data as it is now ({path.name}): run `make model`")
    return path


def model_path(settings: Settings, config: Path | None = None) -> Path:
    config = config or settings.nlu_project_dir / "config.yml"
    return settings.model_dir / f"nlu-{fingerprint(settings.nlu_project_dir, config)}.tar.gz"


def _normalize_example(line: str) -> str:
    # Normalise the text around and inside annotations, keeping the annotation syntax.
    parts: list[str] = []
    last = 0
    for match in _ANNOTATION.finditer(line):
        parts.append(normalize_text(line[last : match.start()]))
        parts.append(f"[{normalize_text(match.group(1))}]({match.group(2)})")
        last = match.end()
    parts.append(normalize_text(line[last:]))
    return " ".join(p for p in parts if p)


def plain(example: str) -> str:
    """The example's text without entity annotations."""
    return _ANNOTATION.sub(lambda m: m.group(1), example)


def _yaml_examples(path: Path) -> Iterator[tuple[str, str, str] | dict[str, Any]]:
    doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    for block in doc.get("nlu", []):
        if "regex" in block:
            yield block
            continue
        label = str(block["intent"])
        risk = "alarm" if label == Intent.URGENT_RISK else "none"
        for raw in str(block["examples"]).splitlines():
            raw = raw.strip()
            if raw.startswith("- "):
                yield label, raw[2:], risk


def corpus_label(record: dict[str, Any]) -> str:
    intent = str(record["intent"])
    dispute_type = record.get("dispute_type")
    return f"{intent}{LABEL_SEPARATOR}{dispute_type}" if dispute_type else intent


def _jsonl_examples(path: Path) -> Iterator[tuple[str, str, str]]:
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
            label, text = corpus_label(record), str(record["text"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"{path}:{number}: {exc}") from exc
        risk = str(record.get("risk") or "none")
        if risk not in RISK_TIERS:
            raise ValueError(f"{path}:{number}: unknown risk tier {risk!r}")
        yield label, text, risk


def _sources(project_dir: Path) -> Iterator[tuple[str, str, str] | dict[str, Any]]:
    data = project_dir / "data"
    for path in sorted(data.rglob("*.yml")):
        yield from _yaml_examples(path)
    for path in sorted(data.rglob("*.jsonl")):
        yield from _jsonl_examples(path)


def load_training_data(project_dir: Path) -> TrainingData:
    """Read every training file, normalise the examples and drop near-copies and conflicts."""
    examples: dict[str, list[Example]] = {}
    regexes: list[dict[str, Any]] = []
    owner: dict[str, str] = {}
    conflicts: set[str] = set()
    near = NearDuplicates()
    near_copies = 0
    for item in _sources(project_dir):
        if isinstance(item, dict):
            regexes.append(item)
            continue
        label, raw, risk = item
        example = _normalize_example(raw)
        key = skeleton(plain(example))
        if not key:
            continue
        if key in owner:
            if owner[key] != label:
                conflicts.add(key)
            continue
        if near.seen(plain(example)):
            near_copies += 1
            continue
        owner[key] = label
        examples.setdefault(label, []).append(Example(example, risk))
    # The same text under two labels teaches nothing but noise: drop it from both.
    for label, items in examples.items():
        examples[label] = [e for e in items if skeleton(plain(e.text)) not in conflicts]
    return TrainingData(examples, regexes, len(conflicts), near_copies)


def _yaml_safe(text: str) -> str:
    # Rasa expands "${NAME}" in training YAML as an environment variable, and fails when it is
    # unset: an attack string residents send ("${jndi:…}") must stay text.
    return text.replace("${", "$ {")


def write_training_file(data: TrainingData, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    blocks: list[dict[str, Any]] = [
        {
            "intent": label,
            "examples": [
                {"text": _yaml_safe(e.text), "metadata": {"risk": e.risk}}
                if e.risk != ("alarm" if label == Intent.URGENT_RISK else "none")
                else {"text": _yaml_safe(e.text)}
                for e in items
            ],
        }
        for label, items in sorted(data.examples.items())
    ]
    blocks.extend(data.regexes)
    path.write_text(
        yaml.safe_dump({"version": "3.1", "nlu": blocks}, allow_unicode=True, sort_keys=False),
        encoding="utf-8",
    )


def build_dir(settings: Settings) -> Path:
    return settings.data_dir / "nlu-build"


def prepare_training_file(settings: Settings) -> tuple[Path, TrainingData]:
    data = load_training_data(settings.nlu_project_dir)
    path = build_dir(settings) / "nlu.yml"
    write_training_file(data, path)
    return path, data


@dataclass(frozen=True, slots=True)
class TrainResult:
    model: Path
    trained: bool
    seconds: float


def train(settings: Settings, *, force: bool = False, config: Path | None = None) -> TrainResult:
    """Train the model unless one for exactly this data and config exists."""
    config = config or settings.nlu_project_dir / "config.yml"
    target = model_path(settings, config)
    if target.exists() and not force:
        return TrainResult(target, trained=False, seconds=0.0)
    exe = rasa_executable(settings.rasa_venv)
    training_file, data = prepare_training_file(settings)
    if data.dropped_conflicts:
        log.warning("nlu.train.conflicts_dropped", count=data.dropped_conflicts)
    settings.model_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    argv = [
        str(exe), "train", "nlu", "--config", str(config), "--nlu", str(training_file),
        "--out", str(settings.model_dir), "--fixed-model-name", target.name.removesuffix(".tar.gz"),
    ]  # fmt: skip
    # Rasa's training cache keys our components on their config, not their code: a changed add-on
    # would be restored from the cache. This runs only when the fingerprint changed, so no cache.
    environment = {**rasa_environment(), "RASA_MAX_CACHE_SIZE": "0"}
    result = subprocess.run(argv, cwd=PROJECT_ROOT, env=environment, capture_output=True, text=True)
    if result.returncode != 0 or not target.exists():
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise RuntimeError(f"rasa train nlu failed (exit {result.returncode}):\n{tail}")
    if config == settings.nlu_project_dir / "config.yml":
        for old in settings.model_dir.glob("nlu-*.tar.gz"):
            if old != target:
                old.unlink()
    return TrainResult(target, trained=True, seconds=time.monotonic() - started)
