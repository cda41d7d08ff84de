"""``bot faq eval FILE.jsonl``: how well the FAQs answer a labelled set of questions."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from bot.cli_scoring import run_scoring
from bot.faq.evaluate import EvalFileError, Outcome, Question, answer, format_report, read_questions, score
from bot.faq.files import FaqFileError, load_directory
from bot.faq.index import FaqIndex
from bot.faq.rerank import Reranker
from bot.logs import configure_logging
from bot.nlu.normalize import normalize
from bot.nlu.runtime import nlu_runtime
from bot.nlu.segment import make_tokenizer
from bot.nlu.training import model_path
from bot.settings import Settings


def _with_nlu(index: FaqIndex, questions: list[Question], settings: Settings) -> list[Outcome]:
    async def run() -> list[Outcome]:
        async with nlu_runtime(settings, start_if_unreachable=True, train_if_stale=False) as nlu:
            outcomes = []
            for q in questions:
                c = await nlu.classifier.classify(q.text)
                outcomes.append(answer(index, q, text=c.text, dispute_type=c.dispute_type))
            return outcomes

    return run_scoring(run())


def _without_nlu(index: FaqIndex, questions: list[Question], settings: Settings) -> list[Outcome]:
    return [
        answer(index, q, text=normalize(q.text, settings.max_message_chars).text, dispute_type=None)
        for q in questions
    ]


def eval_command(
    file: Annotated[
        Path,
        typer.Argument(help='JSON lines {"text": ..., "faq_id": ... or null}', exists=True, dir_okay=False),
    ],
    faq_dir: Annotated[
        Path | None,
        typer.Option(help="FAQ YAML files to score (default: knowledge/faq)", file_okay=False, exists=True),
    ] = None,
    nlu: Annotated[
        bool | None,
        typer.Option(
            "--nlu/--no-nlu",
            help="Give the search the NLU's dispute type, as the bot does (default: when BOT_NLU_URL "
            "is set or the current model is trained; starts Rasa, ~30 s)",
        ),
    ] = None,
    threshold: Annotated[
        float | None, typer.Option(help="Score below which the bot is not sure (default BOT_FAQ_THRESHOLD)")
    ] = None,
    rerank: Annotated[
        bool,
        typer.Option(
            "--rerank/--no-rerank", help="Judge the candidates with the second stage (bot/faq/reranker.json)"
        ),
    ] = True,
    mistakes: Annotated[
        bool, typer.Option("--mistakes", help="List every question not answered right")
    ] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Score FAQ answers on a labelled set: top-1 and top-3 accuracy, wrong answers, "not sure",
    and false answers to questions no FAQ should answer.

    Each question is searched as the bot's legal flow searches it.

    The FAQs scored are the YAML files of knowledge/faq, or those of --faq-dir.

    To score the console's published set: `bot faq export DIR`, then `bot faq eval FILE --faq-dir DIR`.
    """
    settings = Settings()
    configure_logging(settings.log_level)
    try:
        faqs = load_directory(faq_dir or settings.knowledge_dir / "faq")
        tokenizer = make_tokenizer(settings.nlu_project_dir / "jieba_dict")
        first_stage = settings.faq_threshold if threshold is None else threshold
        if rerank:
            index = FaqIndex(faqs, tokenizer, threshold=first_stage)
            if threshold is not None and isinstance(index.reranker, Reranker):
                index.threshold = threshold  # a probability, with the second stage
        else:
            index = FaqIndex(faqs, tokenizer, threshold=first_stage, reranker=None)
        questions = read_questions(file, {f.id for f in faqs})
    except (FaqFileError, EvalFileError) as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    if nlu is None:
        nlu = bool(settings.nlu_url) or model_path(settings).exists()
    outcomes = (_with_nlu if nlu else _without_nlu)(index, questions, settings)
    report = score(outcomes, {f.id: f.dispute_type for f in faqs}, threshold=index.threshold, nlu=nlu)
    if as_json:
        typer.echo(json.dumps(report.as_dict(), ensure_ascii=False, indent=2))
    else:
        typer.echo(format_report(report, mistakes=mistakes))
