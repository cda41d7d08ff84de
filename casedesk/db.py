"""The desk's tables and database engines: SQLite (a file in the data directory) by default,
PostgreSQL (``postgresql://…``) as the scale path, where the tables live in their own schema
(``CASEDESK_DATABASE_SCHEMA``, default ``casedesk``) so they never mix with the bot's.

This reference desk creates its tables with ``create_all`` at start-up instead of Alembic
migrations: it is a pilot's and the tests' backend, and a schema change means a new empty
database. A centre that keeps its data for years should add migrations first.

Feeds (change events, handoff events) take their ``seq`` from a counter row that the writing
transaction updates and so holds locked until it commits: sequence numbers become visible in
order, and a reader that resumes after the largest ``seq`` it saw never skips one.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Dialect,
    Engine,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    TypeDecorator,
    event,
    text,
)
from sqlalchemy import create_engine as create_sync_engine_
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from casedesk.settings import Settings


def utcnow() -> datetime:
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """Aware datetimes in, aware UTC datetimes out, on SQLite too (which stores no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: the desk stores aware datetimes only")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime,
        list[Any]: JSON,
        list[str]: JSON,
        dict[str, Any]: JSON,
    }


class Counter(Base):
    """Named counters: case-number serials per year, the feeds' sequence numbers."""

    __tablename__ = "counters"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger)


class Staff(Base):
    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None]
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseRow(Base):
    __tablename__ = "cases"
    __table_args__ = (Index("ix_cases_resident", "channel", "resident_ref"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_no: Mapped[str] = mapped_column(String(32), unique=True)
    reference: Mapped[str] = mapped_column(String(32), index=True)
    dispute_type: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    place: Mapped[str] = mapped_column(Text)
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]
    occurred: Mapped[str] = mapped_column(String(128))
    other_party: Mapped[str | None] = mapped_column(String(128))
    reporter_name: Mapped[str | None] = mapped_column(String(64))
    reporter_phone: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str] = mapped_column(String(16))
    #: The resident's id on the bot side (as on handoffs); None when the filer gave none.
    resident_ref: Mapped[str | None] = mapped_column(String(64))
    consent_at: Mapped[datetime]
    step: Mapped[str] = mapped_column(String(16), index=True)
    department: Mapped[str | None] = mapped_column(String(32))
    public_note: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    #: The resident asked for their data to be deleted while a law requires keeping the case
    #: (人民调解法 第二十七条): staff see it, and use the case for nothing but storage.
    erasure_requested_at: Mapped[datetime | None]


class ChangeEvent(Base):
    """The changes feed: append-only, one row per change of a case (its creation included)."""

    __tablename__ = "change_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    case_no: Mapped[str] = mapped_column(String(32))
    reference: Mapped[str] = mapped_column(String(32))
    step: Mapped[str] = mapped_column(String(16))
    department: Mapped[str | None] = mapped_column(String(32))
    public_note: Mapped[str | None] = mapped_column(Text)
    staff: Mapped[str | None] = mapped_column(String(64))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)


class AttachmentRow(Base):
    __tablename__ = "attachments"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    #: The file's name under ``<data_dir>/attachments`` (random; never the uploaded name).
    storage_name: Mapped[str] = mapped_column(String(128), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HandoffRow(Base):
    """A resident waiting for a person (asked for one, or escalated as urgent)."""

    __tablename__ = "handoffs"
    __table_args__ = (Index("ix_handoffs_status", "status", "urgent", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    resident_ref: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    urgent: Mapped[bool] = mapped_column(Boolean, default=False)
    transcript: Mapped[list[Any]] = mapped_column(default=list)
    status: Mapped[str] = mapped_column(String(16))
    taken_by: Mapped[str | None] = mapped_column(String(64))
    taken_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class EscalationRow(Base):
    __tablename__ = "escalations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    resident_ref: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    categories: Mapped[list[str]] = mapped_column(default=list)
    self_harm: Mapped[bool] = mapped_column(Boolean)
    case_reference: Mapped[str | None] = mapped_column(String(32))
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ErasureRequestRow(Base):
    """A resident's request, relayed by the bot, to delete their personal data, and what the
    desk did with each case (the record staff answer to; it holds no personal data itself)."""

    __tablename__ = "erasure_requests"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    outcomes: Mapped[list[Any]] = mapped_column(default=list)
    conversations_erased: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HandoffMessageRow(Base):
    """The conversation after the handoff: what the bot relayed and what staff answered."""

    __tablename__ = "handoff_messages"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), index=True)
    sender: Mapped[str] = mapped_column(String(16))  # resident | staff
    text: Mapped[str] = mapped_column(Text)
    staff: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class HandoffEventRow(Base):
    """The handoff events feed (what staff did): append-only, read by the bot."""

    __tablename__ = "handoff_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    handoff_id: Mapped[int] = mapped_column(ForeignKey("handoffs.id"), index=True)
    resident_ref: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(16))
    type: Mapped[str] = mapped_column(String(16))
    text: Mapped[str | None] = mapped_column(Text)
    staff: Mapped[str | None] = mapped_column(String(64))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class IdempotencyRecord(Base):
    """The first result of every create, by its ``Idempotency-Key`` (the primary key is what
    makes two concurrent requests with one key create one thing)."""

    __tablename__ = "idempotency_keys"

    key: Mapped[str] = mapped_column(String(255), primary_key=True)
    fingerprint: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


# --- engines ---


def _url(settings: Settings, *, asynchronous: bool) -> str:
    url = make_url(settings.database_url or f"sqlite:///{settings.data_dir / 'casedesk.db'}")
    backend = url.get_backend_name()
    if backend == "sqlite":
        url = url.set(drivername="sqlite+aiosqlite" if asynchronous else "sqlite")
    elif backend == "postgresql":
        url = url.set(drivername="postgresql+psycopg")
    else:
        raise ValueError(f"unsupported database {backend!r}: use sqlite or postgresql")
    return url.render_as_string(hide_password=False)


def _is_sqlite(settings: Settings) -> bool:
    return _url(settings, asynchronous=False).startswith("sqlite")


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # SQLAlchemy's "begin" event starts transactions (pysqlite's own handling defers the
        # write lock and then fails with "database is locked" when two writers meet).
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.execute("PRAGMA busy_timeout=10000")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        # Writers take the lock up front; readers (``reading``) do not.
        mode = conn.get_execution_options().get("sqlite_begin", "IMMEDIATE")
        conn.exec_driver_sql(f"BEGIN {mode}")


def _options(settings: Settings) -> dict[str, Any]:
    # Errors quote their SQL, never the parameters: they hold residents' names and phones.
    if _is_sqlite(settings):
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return {"hide_parameters": True}
    return {
        "execution_options": {"schema_translate_map": {None: settings.database_schema}},
        "pool_pre_ping": True,
        "hide_parameters": True,
    }


def create_engine(settings: Settings) -> AsyncEngine:
    engine = create_async_engine(_url(settings, asynchronous=True), **_options(settings))
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine.sync_engine)
    return engine


def create_sync_engine(settings: Settings) -> Engine:
    """For the command line (``create-staff``, ``demo``), usable inside or outside an event loop."""
    engine = create_sync_engine_(_url(settings, asynchronous=False), **_options(settings))
    if engine.dialect.name == "sqlite":
        _tune_sqlite(engine)
    return engine


def _create_all(connection: Connection, schema: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text(f'CREATE SCHEMA IF NOT EXISTS "{schema}"'))
    Base.metadata.create_all(connection)


async def create_tables(engine: AsyncEngine, settings: Settings) -> None:
    async with engine.begin() as connection:
        await connection.run_sync(_create_all, settings.database_schema)


def create_tables_sync(engine: Engine, settings: Settings) -> None:
    with engine.begin() as connection:
        _create_all(connection, settings.database_schema)


def writing(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def reading(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that only read: on SQLite they do not take the write lock."""
    return async_sessionmaker(engine.execution_options(sqlite_begin="DEFERRED"), expire_on_commit=False)


def next_value(name: str, dialect_name: str) -> Any:
    """An ``INSERT … ON CONFLICT DO UPDATE … RETURNING value`` that bumps counter ``name``; the
    row stays locked until the transaction ends (so values become visible in order)."""
    insert = postgresql.insert if dialect_name == "postgresql" else sqlite.insert
    statement = insert(Counter).values(name=name, value=1)
    return statement.on_conflict_do_update(
        index_elements=[Counter.name], set_={"value": Counter.value + 1}
    ).returning(Counter.value)
