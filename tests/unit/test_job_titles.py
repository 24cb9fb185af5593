"""Job titles name a dataset version as every page does ("lunch v2"), never by its bare id ("dataset version 3")."""

from __future__ import annotations

import pytest

from backend.core.access import LOCAL_ADMIN
from backend.core.settings import Settings, get_settings
from backend.data.tasks import start_validation, version_title
from backend.store import datasets as dataset_store
from backend.store import jobs as job_store
from backend.store.engine import session_scope


def test_validation_titles_use_dataset_and_label(workspace: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATEOPS_JOB_CONCURRENCY", '{"validate": 0}')  # queued only: no worker starts
    get_settings.cache_clear()
    with session_scope() as session:
        other = dataset_store.create_dataset(session=session, name="snacks", source="yolo")
        dataset_store.create_version(session=session, dataset_id=other.id, path="/nowhere", stats={}, message="")
        lunch = dataset_store.create_dataset(session=session, name="lunch", source="yolo")
        ids = [
            dataset_store.create_version(session=session, dataset_id=lunch.id, path="/nowhere", stats={}, message="").id
            for _ in range(2)
        ]
    second = ids[1]
    assert second == 3, "the id differs from the label: the case the Jobs page got wrong"
    assert version_title(second) == "lunch v2"
    assert version_title(999) == "dataset version #999"
    job_id = start_validation(second, actor=LOCAL_ADMIN)
    with session_scope() as session:
        assert job_store.get_job(session=session, job_id=job_id).title == "Validate lunch v2"
