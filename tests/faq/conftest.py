"""The FAQ library's fixtures: the project's statute index, dispute types and jieba dictionary,
and a library on the shared test database (seeded with the YAML FAQs if it is empty)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import pytest_asyncio
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.faq.actors import Actor, Role
from bot.faq.model import LegalBasis
from bot.faq.statutes import StatuteIndex
from bot.faq_library.library import Draft, Library
from bot.faq_library.live import LiveFaqs
from bot.nlu.labels import DisputeCatalog
from bot.nlu.segment import Tokenizer, make_tokenizer
from bot.settings import Settings
from bot.storage.db import create_engine, sessions
from bot.storage.migrate import upgrade

VOLUNTEER = Actor("志愿者小王", Role.VOLUNTEER)
REVIEWER = Actor("审核员老李", Role.REVIEWER)
CIVIL_CODE = "中华人民共和国民法典"


def unique_slug(prefix: str = "test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def draft(
    question: str, answer: str = "可以先和对方协商，协商不成可以申请人民调解。", **fields: object
) -> Draft:
    values: dict[str, object] = {
        "question": question,
        "paraphrases": (),
        "answer": answer,
        "legal_basis": (LegalBasis(CIVIL_CODE, "第三百一十四条"),),
        "dispute_type": "other",
    }
    values.update(fields)
    return Draft(**values)  # type: ignore[arg-type]


class Clock:
    """A clock the test moves (staleness is about months, not seconds)."""

    def __init__(self) -> None:
        self.now = datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, days: int) -> None:
        self.now += timedelta(days=days)


@pytest.fixture(scope="session")
def statutes(settings: Settings) -> StatuteIndex:
    return StatuteIndex.load(settings.knowledge_dir)


@pytest.fixture(scope="session")
def catalog(settings: Settings) -> DisputeCatalog:
    return DisputeCatalog.load(settings.knowledge_dir)


@pytest.fixture(scope="session")
def tokenizer(settings: Settings) -> Tokenizer:
    return make_tokenizer(settings.nlu_project_dir / "jieba_dict")


@pytest.fixture(scope="session")
def made(database: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return sessions(database)


@pytest_asyncio.fixture(scope="session")
async def seeded(made: async_sessionmaker[AsyncSession], tokenizer: Tokenizer, db_settings: Settings) -> None:
    """A deployment's first start: the YAML FAQs are the published set."""
    live = LiveFaqs(made, tokenizer, threshold=db_settings.faq_threshold)
    await live.seed_if_empty(db_settings.knowledge_dir / "faq")


@pytest_asyncio.fixture
async def live(
    seeded: None, made: async_sessionmaker[AsyncSession], tokenizer: Tokenizer, db_settings: Settings
) -> LiveFaqs:
    faqs = LiveFaqs(made, tokenizer, threshold=db_settings.faq_threshold)
    await faqs.refresh()
    return faqs


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def library(
    made: async_sessionmaker[AsyncSession],
    statutes: StatuteIndex,
    catalog: DisputeCatalog,
    tokenizer: Tokenizer,
    live: LiveFaqs,
    clock: Clock,
    db_settings: Settings,
) -> Library:
    return Library(
        made, statutes, catalog, tokenizer, threshold=db_settings.faq_threshold, live=live, clock=clock
    )


@pytest_asyncio.fixture
async def fresh(
    settings: Settings, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Settings, AsyncEngine]]:
    """A new, empty SQLite database (a deployment's first start)."""
    fresh_settings = settings.model_copy(update={"data_dir": tmp_path_factory.mktemp("fresh")})
    upgrade(fresh_settings)
    engine = create_engine(fresh_settings)
    yield fresh_settings, engine
    await engine.dispose()
