"""backend.registry.compare: the Models page's run table, run comparison, dataset-version box diff and the
predictions of two runs on the same validation images (where they disagree most first)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from backend.core.errors import BadInputError
from backend.core.settings import Settings
from backend.registry import compare
from backend.registry import service as registry
from tests.utils.actors import ADMIN
from tests.utils.registry_runs import add_dataset_version, add_version_run
from tests.utils.shared import TinyModels
from tests.utils.tiny_yolo import TINY_CLASSES, make_tiny_yolo_dataset

EVAL_A = {
    "map50": 0.5,
    "map50_95": 0.3,
    "precision": 0.6,
    "recall": 0.5,
    "latency_ms": 20.0,
    "model_size_mb": 6.2,
    "per_class": {"apple": {"ap50": 0.6, "ap50_95": 0.4}, "banana": {"ap50": 0.4, "ap50_95": 0.2}},
    "pr_curve": {"apple": {"recall": [0.0, 1.0], "precision": [1.0, 0.5]}},
    "confusion_matrix": {"names": ["apple", "background"], "matrix": [[3, 1], [0, 0]]},
}
EVAL_B = {**EVAL_A, "map50": 0.7, "latency_ms": 15.0}


@pytest.fixture(scope="module", name="files")
def fixture_files(tmp_path_factory: pytest.TempPathFactory, tiny_models: TinyModels) -> dict[str, Path]:
    """Two tiny detectors (the run's shared read-only files: add_version_run copies them) and a tiny split."""
    root = tmp_path_factory.mktemp("compare")
    data = make_tiny_yolo_dataset(root / "v1", train=2, val=4, size=64).parent
    return {"a": tiny_models.untrained(imgsz=64, seed=1), "b": tiny_models.grid(imgsz=64), "v1": data}


def _edited_copy(source: Path, target: Path) -> Path:
    """A second version: one box moved, one reclassified, one removed, one added (in val/val_000..002)."""
    shutil.copytree(source, target)
    labels = target / "labels" / "val"
    rows = [line.split() for line in (labels / "val_000.txt").read_text().splitlines()]
    rows[0][1] = f"{float(rows[0][1]) + 0.05:.6f}"  # moved
    (labels / "val_000.txt").write_text("".join(" ".join(r) + "\n" for r in rows))
    rows = [line.split() for line in (labels / "val_001.txt").read_text().splitlines()]
    rows[0][0] = str((int(rows[0][0]) + 1) % 3)  # reclassified
    (labels / "val_001.txt").write_text("".join(" ".join(r) + "\n" for r in rows))
    rows = [line.split() for line in (labels / "val_002.txt").read_text().splitlines()]
    (labels / "val_002.txt").write_text("".join(" ".join(r) + "\n" for r in rows[1:]))  # first box removed
    with (labels / "val_003.txt").open("a") as handle:
        handle.write("2 0.100000 0.100000 0.050000 0.050000\n")  # added
    text = (target / "data.yaml").read_text().replace(str(source.resolve()), str(target.resolve()))
    (target / "data.yaml").write_text(text)
    return target


def test_table_and_comparison_with_version_diff(workspace: Settings, files: dict[str, Path], tmp_path: Path) -> None:
    v1 = add_dataset_version(files["v1"])
    v2 = add_dataset_version(_edited_copy(files["v1"], tmp_path / "v2"))
    run_a, _ = add_version_run(files["a"], v1, name="run-a", evaluation=EVAL_A)
    run_b, _ = add_version_run(files["b"], v2, name="run-b", evaluation=EVAL_B)
    # the tiny split's shape names are not the detectors' food names, and it is too small to decide on: confirmed
    # and overridden, as a user would
    promoted = registry.promote_run(run_a.id, export=False, actor=ADMIN, confirm_classes=True, reason="tiny test set")
    assert promoted.promoted and promoted.class_mapping["missing_in_candidate"] == list(TINY_CLASSES)

    table = {e.name: e for e in compare.model_table()}
    assert table["run-a"].stage == "production" and table["run-b"].stage == "candidate"
    assert table["run-a"].dataset == "tiny-shapes v1" and table["run-b"].dataset == "tiny-shapes v2"
    assert table["run-b"].map50 == 0.7 and table["run-b"].size_mb == 6.2 and table["run-b"].imgsz == 64
    assert {"mAP50", "stage", "CPU latency ms", "tracking"} <= set(table["run-a"].as_row())

    result = compare.compare_runs([run_a.id, run_b.id])
    assert [row["Δ map50"] for row in result.deltas] == [0.0, 0.2]
    assert [row["Δ latency_ms"] for row in result.deltas] == [0.0, -5.0]
    assert len(result.per_class) == 4 and len(result.pr_curves) == 4 and len(result.confusion) == 2
    diff = result.version_diff
    assert diff is not None and (diff.old, diff.new) == ("v1", "v2")
    totals = {kind: sum(row[kind] for row in diff.rows()) for kind in ("added", "removed", "moved", "reclassified")}
    assert totals == {"added": 1, "removed": 1, "moved": 1, "reclassified": 1}
    assert diff.images_changed == 4 and diff.images_compared == 6

    with pytest.raises(BadInputError, match="at least two runs"):
        compare.compare_runs([run_a.id])


def test_predictions_of_two_runs_on_the_same_images_disagreement_first(
    workspace: Settings, files: dict[str, Path]
) -> None:
    version = add_dataset_version(files["v1"])
    run_a, _ = add_version_run(files["a"], version, name="run-a")
    run_b, _ = add_version_run(files["b"], version, name="run-b")
    found = compare.prediction_disagreements([run_a.id, run_b.id], images=4, shown=3)
    assert len(found) == 3
    assert [d.score for d in found] == sorted((d.score for d in found), reverse=True)
    first = found[0]
    assert set(first.predictions) == {f"#{run_a.id} run-a", f"#{run_b.id} run-b"}
    assert first.truth and all(name in TINY_CLASSES for name, _ in first.truth)
    assert first.score == 1.0  # the grid detector's boxes never match the untrained one's (none)
