"""The SQL engine: SQLite by default (WAL, a busy timeout), PostgreSQL by URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from sqlalchemy import Engine, Table, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from cloud.storage.tables import Base


def make_engine(url: str) -> Engine:
    """Create the engine (and the SQLite file's folder) and make sure the tables exist."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if parsed.database and parsed.database != ":memory:":
            Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
        # isolation_level=None: pysqlite must not issue its own BEGIN; we do (below).
        engine = create_engine(url, connect_args={"timeout": 30, "isolation_level": None})

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            cursor = dbapi_connection.cursor()
            # WAL lets the API read while the ingest writes; FULL makes a commit durable
            # before the ingest acknowledges the message behind it.
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=FULL")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _begin(connection: Any) -> None:
            # A deferred transaction that reads and then writes fails at once (no busy
            # wait) if another process committed in between. Writers therefore take the
            # write lock up front (IMMEDIATE) and wait their turn; readers do not take
            # it at all (WAL lets them read beside a writer).
            writer = connection.get_execution_options().get(_WRITER, False)
            connection.exec_driver_sql("BEGIN IMMEDIATE" if writer else "BEGIN")
    else:
        engine = create_engine(url, pool_pre_ping=True)
    Base.metadata.create_all(engine)
    return engine


_WRITER = "tianshan_writer"


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for reading (on SQLite they never hold the write lock)."""
    return sessionmaker(engine, expire_on_commit=False)


def writer_factory(engine: Engine) -> sessionmaker[Session]:
    """Sessions for transactions that write (on SQLite: BEGIN IMMEDIATE)."""
    return sessionmaker(engine.execution_options(**{_WRITER: True}), expire_on_commit=False)


def insert_for(session: Session, table: Table) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that knows ON CONFLICT on both SQLite and PostgreSQL."""
    name = session.get_bind().dialect.name
    if name == "postgresql":
        return postgresql.insert(table)
    if name == "sqlite":
        return sqlite.insert(table)
    raise NotImplementedError(f"SQL dialect {name!r} is not supported (use SQLite or PostgreSQL)")
