"""The Models page's dataset-version diff names every class, each version's ids through its own class list: never
bare ids (10, 11, 3) mixed with names when the class list changed between the versions."""

from __future__ import annotations

from pathlib import Path

from backend.core.settings import Settings
from backend.registry.compare import diff_versions
from backend.store import datasets as dataset_store
from backend.store.engine import session_scope

OLD_NAMES = [f"food{i}" for i in range(12)]
NEW_NAMES = ["apple", "banana", "broccoli", "egg"]


def _version(root: Path, names: list[str], labels: dict[str, str]) -> Path:
    (root / "labels" / "val").mkdir(parents=True)
    (root / "data.yaml").write_text(f"names: {names}\n", encoding="utf-8")
    for stem, text in labels.items():
        (root / "labels" / "val" / f"{stem}.txt").write_text(text, encoding="utf-8")
    return root


def test_diff_rows_name_each_versions_classes(workspace: Settings, tmp_path: Path) -> None:
    old = _version(tmp_path / "old", OLD_NAMES, {"a": "11 0.5 0.5 0.2 0.2\n10 0.2 0.2 0.1 0.1\n"})
    new = _version(tmp_path / "new", NEW_NAMES, {"a": "3 0.8 0.8 0.1 0.1\n"})
    with session_scope() as session:
        ds = dataset_store.create_dataset(session=session, name="lunch", source="yolo")
        ids = [
            dataset_store.create_version(session=session, dataset_id=ds.id, path=str(p), stats={}, message="").id
            for p in (old, new)
        ]
    rows = diff_versions(*ids).rows()
    classes = {row["class"] for row in rows}
    assert classes == {"food11", "food10", "egg"}, rows
    assert not any(str(c).isdigit() for c in classes)
