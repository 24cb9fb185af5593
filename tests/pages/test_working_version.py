"""AppTest: the dataset version a user works on is kept across pages. The Train page's picker starts on the
version last picked (on Datasets or Train), not on the newest dataset, and keeps it after a visit to another page."""

from __future__ import annotations

from pathlib import Path

import pytest

from backend.core.settings import Settings, get_settings
from backend.store import datasets as dataset_store
from backend.store.engine import session_scope
from tests.pages.apptest_utils import open_page
from tests.pages.test_train_page import run
from tests.utils.tiny_yolo import make_tiny_yolo_dataset

TRAIN, DATASETS = "pages/train.py", "pages/datasets.py"


@pytest.fixture(name="three_versions")
def fixture_three_versions(workspace: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """lunch v1 and v2, then snacks v1 (the newest); returns their ids in that order. No worker ever starts."""
    monkeypatch.setenv("PLATEOPS_JOB_CONCURRENCY", '{"train": 0}')
    get_settings.cache_clear()
    data_yaml = make_tiny_yolo_dataset(tmp_path / "tiny", train=6, val=2, size=64)
    ids = []
    with session_scope() as session:
        for name, count in (("lunch", 2), ("snacks", 1)):
            ds = dataset_store.create_dataset(session=session, name=name, source="yolo")
            for _ in range(count):
                version = dataset_store.create_version(
                    session=session,
                    dataset_id=ds.id,
                    path=str(data_yaml.parent),
                    stats={"images": 8, "train": 6, "val": 2},
                    message="import",
                )
                dataset_store.set_validation(
                    session=session, version_id=version.id, status="passed", summary={}, issues=[]
                )
                ids.append(version.id)
    return ids


def test_train_starts_on_the_version_picked_on_datasets_and_keeps_it(three_versions: list[int]) -> None:
    lunch_v1, lunch_v2, snacks_v1 = three_versions
    at = open_page(DATASETS)
    opened = (at.selectbox(key="ds_pick_dataset").value, at.selectbox(key="ds_pick_version").value)
    assert opened == ("snacks", snacks_v1), "Datasets opens on the newest version"
    at.selectbox(key="ds_pick_dataset").set_value("lunch")
    run(at)
    at.selectbox(key="ds_pick_version").set_value(lunch_v1)
    run(at)

    at.switch_page(TRAIN)
    run(at)
    assert at.selectbox(key="train_version").value == lunch_v1, "not the newest (snacks v1): the one worked on"
    at.selectbox(key="train_version").set_value(lunch_v2)
    run(at)

    at.switch_page(DATASETS)
    run(at)
    assert (at.selectbox(key="ds_pick_dataset").value, at.selectbox(key="ds_pick_version").value) == (
        "lunch",
        lunch_v2,
    )
    at.switch_page(TRAIN)
    run(at)
    assert at.selectbox(key="train_version").value == lunch_v2, "the pick survives leaving the page"
