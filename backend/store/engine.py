"""Engine, sessions and migrations for the store.

SQLite (the default) opens in WAL mode with foreign keys on and a busy timeout, because the console and the job
workers write at the same time. Any SQLAlchemy URL works through `PLATEOPS_DATABASE_URL` (PostgreSQL for a team).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine.interfaces import DBAPIConnection
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry

from backend.core.errors import NotFoundError
from backend.core.settings import get_settings

_MIGRATIONS_DIR = Path(__file__).parent / "migrations"
_engines: dict[str, Engine] = {}
_makers: dict[str, sessionmaker[Session]] = {}
_migrated: set[str] = set()
_lock = threading.Lock()


def _sqlite_pragmas(dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry) -> None:
    """Per-connection SQLite settings: WAL for concurrent readers/writers, FK enforcement, wait on locks."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={int(get_settings().store_busy_timeout_s * 1000)}")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def get_engine(url: str | None = None) -> Engine:
    """Return the (cached) engine for `url`, default the configured store."""
    url = url or get_settings().db_url
    with _lock:
        engine = _engines.get(url)
        if engine is None:
            if url.startswith("sqlite"):
                db_path = url.split("///", 1)[-1]
                if db_path and db_path != ":memory:":
                    Path(db_path).parent.mkdir(parents=True, exist_ok=True)
                engine = create_engine(url, connect_args={"timeout": get_settings().store_busy_timeout_s})
                event.listen(engine, "connect", _sqlite_pragmas)
            else:
                engine = create_engine(url, pool_pre_ping=True)
            _engines[url] = engine
            _makers[url] = sessionmaker(engine, expire_on_commit=False)
        return engine


def migrate(url: str | None = None) -> None:
    """Bring the schema of the store at `url` to the latest migration (Alembic `upgrade head`)."""
    # Alembic logs its plugin set-up (on import) and migration context at INFO: noise at the top of every job log.
    logging.getLogger("alembic").setLevel(logging.WARNING)
    from alembic import command  # local: alembic is only needed when migrating
    from alembic.config import Config

    url = url or get_settings().db_url
    engine = get_engine(url)
    cfg = Config()
    cfg.set_main_option("script_location", str(_MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    with engine.begin() as connection:
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, "head")


def init_db(url: str | None = None) -> Engine:
    """Create or upgrade the store once per process and return its engine. Call at start-up, not import."""
    url = url or get_settings().db_url
    if url not in _migrated:
        migrate(url)
        _migrated.add(url)
    return get_engine(url)


@contextmanager
def session_scope(url: str | None = None) -> Iterator[Session]:
    """A transactional session: commits on success, rolls back on error, always closes."""
    url = url or get_settings().db_url
    init_db(url)
    session = _makers[url]()
    try:
        yield session
        session.commit()
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def dispose_all() -> None:
    """Close every cached engine (tests switch databases between cases)."""
    with _lock:
        for engine in _engines.values():
            engine.dispose()
        _engines.clear()
        _makers.clear()
        _migrated.clear()


def get_row(session: Session, row_cls: type, row_id: int, what: str) -> Any:
    """The row with this id, or NotFoundError naming `what`."""
    row = session.get(row_cls, row_id)
    if row is None:
        raise NotFoundError(f"{what} {row_id} does not exist.")
    return row
