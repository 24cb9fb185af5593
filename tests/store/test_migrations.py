"""The migrations and the ORM rows describe the same schema: a fresh store migrated to head has no difference
from `Base.metadata`, so a column added to the rows without a migration fails here, not in a user's console."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine

from backend.store.engine import dispose_all, get_engine, migrate
from backend.store.rows import Base


@pytest.fixture
def migrated_engine(tmp_path: Path) -> Iterator[Engine]:
    url = f"sqlite:///{tmp_path / 'plateops.db'}"
    migrate(url)
    yield get_engine(url)
    dispose_all()


def test_migrations_match_the_orm_rows(migrated_engine: Engine) -> None:
    with migrated_engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": False})
        diff = compare_metadata(context, Base.metadata)
    assert diff == [], f"the ORM rows and the migrations differ; write a migration for: {diff}"
