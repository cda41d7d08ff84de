"""Linear text classifiers for the Rasa pipeline: TF-IDF over character n-grams, jieba words and
the message's last clause, logistic regression on top.

* ``DisputeClassifier`` predicts the intent and the dispute type with two models: the intent
  over every example (twelve classes), the dispute type over the dispute examples only (thirteen
  classes, so every ``report_dispute`` and ``ask_legal`` example teaches the type). It publishes
  Rasa's usual ``intent`` and ``intent_ranking`` over the compound labels (``report_dispute+labor``:
  p(intent) × p(type)), so the bot's contract is unchanged.
* ``RiskClassifier`` learns the danger tier (``alarm`` / ``check`` / ``none``) from each training
  example's metadata (``metadata: {risk: check}``; ``urgent_risk`` examples are ``alarm``, others
  ``none`` unless they say otherwise) and adds ``"risk": {tier: probability}`` to the parse. It
  is a model of its own so that danger is judged on its own evidence, with thresholds the bot sets.

Character n-grams carry a message through jieba's mistakes, homophone slips and unknown words;
word n-grams carry phrases; the last clause's n-grams carry what residents put at the end (the
question, the request: "…这合法吗" against "…请帮我调解"). All are sublinear TF-IDF, so a long
rambling story does not drown its one telling phrase in counts.
"""

from __future__ import annotations

import itertools
import logging
import pickle
import re
from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.tokenizers.tokenizer import Tokenizer
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData
from scipy.sparse import hstack
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

logger = logging.getLogger(__name__)

RISK = "risk"
RISK_TIERS = ("alarm", "check", "none")
URGENT_INTENT = "urgent_risk"
SEPARATOR = "+"
_MODEL_FILE = "linear.pkl"
_CLAUSE_BREAK = re.compile(r"[\s,.!?;:，。！？；：~…、\"'“”()（）]+")


def _identity(items: list[str]) -> list[str]:
    return items


def _word_grams(message: Message, length_cues: bool = False) -> list[str]:
    words = [t.text for t in (message.get("text_tokens") or []) if t.text.strip()]
    grams = words + [f"{a}_{b}" for a, b in itertools.pairwise(words)]
    if length_cues:
        grams += _length_cues(message.get("text") or "", words)
    return grams


def _length_cues(text: str, words: list[str]) -> list[str]:
    """How long the message is, and for a short one its words as short: "今晚" alone (an answer
    to "什么时候？") is not "今晚就动手" — without these a word's weight is the same at any length."""
    size = len(text.replace(" ", ""))
    band = "len<=4" if size <= 4 else "len<=8" if size <= 8 else "len<=20" if size <= 20 else "len>20"
    return [f"#{band}", *(f"#{band}&{w}" for w in words)] if size <= 8 else [f"#{band}"]


def _tail_grams(text: str, length: int) -> list[str]:
    tail = _CLAUSE_BREAK.sub("|", text).strip("|")[-length:]
    return [
        "$" + tail[i : i + n]
        for n in (1, 2, 3)
        for i in range(len(tail) - n + 1)
        if "|" not in tail[i : i + n]
    ]


class _Features:
    """Character 1–n grams, jieba word 1–2 grams and (optionally) the last clause's grams."""

    def __init__(self, char_max: int, min_df: int, tail: int, length_cues: bool = False) -> None:
        self.tail = tail
        self.length_cues = length_cues
        self.chars = TfidfVectorizer(
            analyzer="char", ngram_range=(1, char_max), sublinear_tf=True, min_df=min_df
        )
        self.words = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, min_df=min_df, lowercase=False)
        self.ends = TfidfVectorizer(analyzer=_identity, sublinear_tf=True, min_df=min_df, lowercase=False)

    def _parts(self, messages: list[Message]) -> list[tuple[TfidfVectorizer, list[Any]]]:
        texts = [m.get("text") or "" for m in messages]
        parts: list[tuple[TfidfVectorizer, list[Any]]] = [
            (self.chars, texts),
            (self.words, [_word_grams(m, self.length_cues) for m in messages]),
        ]
        if self.tail:
            parts.append((self.ends, [_tail_grams(t, self.tail) for t in texts]))
        return parts

    def fit_transform(self, messages: list[Message]) -> Any:
        return hstack([v.fit_transform(d) for v, d in self._parts(messages)]).tocsr()

    def transform(self, messages: list[Message]) -> Any:
        return hstack([v.transform(d) for v, d in self._parts(messages)]).tocsr()


class _Model:
    """Features and a logistic regression, trained on (message, label) pairs."""

    def __init__(self, config: dict[str, Any], *, tail: int, balanced: bool) -> None:
        self.features = _Features(
            int(config["char_max_ngram"]), int(config["min_df"]), tail, bool(config.get("length_cues", False))
        )
        self.classifier = LogisticRegression(
            C=float(config["C"]),
            max_iter=int(config["max_iter"]),
            class_weight="balanced" if balanced else None,
            random_state=7,
        )

    def fit(self, pairs: list[tuple[Message, str]]) -> _Model:
        self.classifier.fit(self.features.fit_transform([m for m, _ in pairs]), [y for _, y in pairs])
        return self

    @property
    def labels(self) -> list[str]:
        return [str(c) for c in self.classifier.classes_]

    def probabilities(self, messages: list[Message]) -> np.ndarray:
        return self.classifier.predict_proba(self.features.transform(messages))


class _Persisted(GraphComponent):
    """Training, persistence and loading of a dict of ``_Model``s; subclasses say which models
    they learn and what they add to a parse."""

    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {"C": 10.0, "char_max_ngram": 3, "min_df": 2, "max_iter": 3000, "tail": 10}

    def __init__(self, config: dict[str, Any], model_storage: ModelStorage, resource: Resource) -> None:
        self.config = {**self.get_default_config(), **config}
        self._storage = model_storage
        self._resource = resource
        self.models: dict[str, _Model] = {}

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> _Persisted:
        return cls(config, model_storage, resource)

    def learn(self, examples: list[Message]) -> dict[str, _Model]:
        raise NotImplementedError

    def publish(self, messages: list[Message]) -> None:
        raise NotImplementedError

    def train(self, training_data: TrainingData) -> Resource:
        examples = [m for m in training_data.intent_examples if m.get("text") and m.get("intent")]
        if not examples:
            return self._resource
        self.models = self.learn(examples)
        with self._storage.write_to(self._resource) as directory, open(directory / _MODEL_FILE, "wb") as out:
            pickle.dump(self.models, out)
        return self._resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> _Persisted:
        component = cls(config, model_storage, resource)
        try:
            with (
                model_storage.read_from(resource) as directory,
                open(directory / _MODEL_FILE, "rb") as handle,
            ):
                # Our own model file, inside the model archive this project trained.
                component.models = pickle.load(handle)  # noqa: S301
        except (ValueError, FileNotFoundError):
            logger.warning("%s: no trained model found", cls.__name__)
        return component

    def process(self, messages: list[Message]) -> list[Message]:
        if self.models and messages:
            self.publish(messages)
        return messages

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data


def _split(label: str) -> tuple[str, str]:
    intent, _, dispute_type = label.partition(SEPARATOR)
    return intent, dispute_type


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class DisputeClassifier(_Persisted):
    def learn(self, examples: list[Message]) -> dict[str, _Model]:
        labels = [_split(str(m.get("intent"))) for m in examples]
        intents = [(m, intent) for m, (intent, _) in zip(examples, labels, strict=True)]
        types = [(m, t) for m, (_, t) in zip(examples, labels, strict=True) if t]
        tail = int(self.config["tail"])
        return {
            "intent": _Model(self.config, tail=tail, balanced=True).fit(intents),
            "type": _Model(self.config, tail=0, balanced=False).fit(types),
        }

    def publish(self, messages: list[Message]) -> None:
        intent_model, type_model = self.models["intent"], self.models["type"]
        intent_p = intent_model.probabilities(messages)
        type_p = type_model.probabilities(messages)
        for message, intents, types in zip(messages, intent_p, type_p, strict=True):
            ranking = []
            for intent, p in zip(intent_model.labels, intents, strict=True):
                if intent in ("report_dispute", "ask_legal"):
                    ranking += [
                        {"name": f"{intent}{SEPARATOR}{t}", "confidence": float(p * q)}
                        for t, q in zip(type_model.labels, types, strict=True)
                    ]
                else:
                    ranking.append({"name": intent, "confidence": float(p)})
            ranking.sort(key=lambda item: -item["confidence"])
            message.set("intent", ranking[0], add_to_output=True)
            message.set("intent_ranking", ranking, add_to_output=True)


@DefaultV1Recipe.register([DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER], is_trainable=True)
class RiskClassifier(_Persisted):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**_Persisted.get_default_config(), "tail": 0, "length_cues": True}

    @staticmethod
    def tier(message: Message) -> str:
        metadata = message.get("metadata") or {}
        tier = (metadata.get("example") or {}).get(RISK) if isinstance(metadata, dict) else None
        if tier in RISK_TIERS:
            return str(tier)
        return "alarm" if message.get("intent") == URGENT_INTENT else "none"

    def learn(self, examples: list[Message]) -> dict[str, _Model]:
        pairs = [(m, self.tier(m)) for m in examples]
        return {"risk": _Model(self.config, tail=int(self.config["tail"]), balanced=True).fit(pairs)}

    def publish(self, messages: list[Message]) -> None:
        model = self.models["risk"]
        for message, row in zip(messages, model.probabilities(messages), strict=True):
            scores = dict.fromkeys(RISK_TIERS, 0.0)
            scores.update({label: round(float(p), 4) for label, p in zip(model.labels, row, strict=True)})
            message.set(RISK, scores, add_to_output=True)
