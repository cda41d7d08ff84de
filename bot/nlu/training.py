"""Training the Rasa model: normalise the training data exactly as live messages are
normalised, and train only when the data, the pipeline or the normalisation changed."""

from __future__ import annotations

import hashlib
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
import yaml

from bot.nlu.normalize import NORMALIZER_VERSION, normalize_text
from bot.nlu.rasa_env import rasa_environment, rasa_executable
from bot.settings import PROJECT_ROOT, Settings

log = structlog.get_logger(__name__)

# A Rasa entity annotation: [value](entity)
_ANNOTATION = re.compile(r"\[([^\]]+)\]\(([a-z_]+)\)")


@dataclass(frozen=True, slots=True)
class TrainingData:
    examples: dict[str, list[str]]
    regexes: list[dict[str, Any]]
    dropped_conflicts: int


def project_files(project_dir: Path, config: Path) -> list[Path]:
    data = sorted((project_dir / "data").rglob("*.yml"))
    dictionary = sorted((project_dir / "jieba_dict").glob("*"))
    return [config, *data, *dictionary]


def fingerprint(project_dir: Path, config: Path) -> str:
    digest = hashlib.sha256(f"normalizer={NORMALIZER_VERSION}".encode())
    for path in project_files(project_dir, config):
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


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


def _plain(example: str) -> str:
    return _ANNOTATION.sub(lambda m: m.group(1), example)


def load_training_data(project_dir: Path) -> TrainingData:
    """Read every NLU file, normalise the examples and drop duplicates and conflicts."""
    examples: dict[str, list[str]] = {}
    regexes: list[dict[str, Any]] = []
    owner: dict[str, str] = {}
    conflicts: set[str] = set()
    for path in sorted((project_dir / "data").rglob("*.yml")):
        doc = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        for block in doc.get("nlu", []):
            if "regex" in block:
                regexes.append(block)
                continue
            label = str(block["intent"])
            for raw in str(block["examples"]).splitlines():
                raw = raw.strip()
                if not raw.startswith("- "):
                    continue
                example = _normalize_example(raw[2:])
                key = _plain(example)
                if not key:
                    continue
                if key in owner:
                    if owner[key] != label:
                        conflicts.add(key)
                    continue
                owner[key] = label
                examples.setdefault(label, []).append(example)
    # The same text under two labels teaches nothing but noise: drop it from both.
    for label, items in examples.items():
        examples[label] = [e for e in items if _plain(e) not in conflicts]
    return TrainingData(examples, regexes, len(conflicts))


def write_training_file(data: TrainingData, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    blocks: list[dict[str, Any]] = [
        {"intent": label, "examples": "".join(f"- {e}\n" for e in items)}
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
    result = subprocess.run(argv, cwd=PROJECT_ROOT, env=rasa_environment(), capture_output=True, text=True)
    if result.returncode != 0 or not target.exists():
        tail = "\n".join((result.stdout + result.stderr).splitlines()[-30:])
        raise RuntimeError(f"rasa train nlu failed (exit {result.returncode}):\n{tail}")
    if config == settings.nlu_project_dir / "config.yml":
        for old in settings.model_dir.glob("nlu-*.tar.gz"):
            if old != target:
                old.unlink()
    return TrainResult(target, trained=True, seconds=time.monotonic() - started)
