"""The Annotate services on real files: pre-labels and label-error suspects from a real (grid) YOLO model, the
review queue's filters, dismissals and flags, the version diff, and validate-and-retrain's refusal without a run."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from backend.annotation import service
from backend.annotation.edits import EditedBox, ImageEdit, save_edits
from backend.annotation.labels import index_version
from backend.annotation.suspects import find_label_errors, queue_suspects
from backend.annotation.tasks import start_label_error_scan, start_validate_retrain
from backend.core.enums import ReviewSource
from backend.core.errors import BadInputError, NotFoundError
from backend.core.hashing import file_sha256
from backend.serving.inference import Detector
from backend.store import registered_models as model_store
from backend.store import review as review_store
from backend.store.engine import session_scope
from backend.store.records import DatasetVersion
from tests.utils.actors import ADMIN
from tests.utils.serving_models import add_finished_run
from tests.utils.shared import TinyModels

NAMES = ("apple", "banana", "broccoli")


@pytest.fixture
def demo(demo_version: Callable[..., DatasetVersion]) -> DatasetVersion:
    return demo_version(images=6, seed=4)


@pytest.fixture
def grid_weights(tiny_models: TinyModels) -> Path:
    return tiny_models.grid(names=NAMES, imgsz=64, class_id=1)


def test_prelabels_come_from_the_serving_model(demo: DatasetVersion, grid_weights: Path) -> None:
    assert service.prelabel_model() is None
    add_finished_run(grid_weights)
    model = service.prelabel_model()
    assert model is not None
    detector = service.load_prelabel_detector(model)
    file = service.version_images(demo.id).files[0]
    image = service.load_editor_image(demo.id, file)
    found = service.prelabel_image(detector, demo.id, file)
    assert found and {p.class_name for p in found} == {"banana"}
    assert all(0 <= p.box[0] < p.box[2] <= image.width and 0 <= p.box[1] < p.box[3] <= image.height for p in found)
    assert all(p.confidence > 0.99 for p in found)


def test_label_error_suspects_are_ranked_and_queued_once(demo: DatasetVersion, grid_weights: Path) -> None:
    suspects = find_label_errors(demo.id, detector=Detector.load(grid_weights))
    files = service.version_images(demo.id).files
    assert sorted(s.file for s in suspects) == files
    assert [s.score for s in suspects] == sorted(s.score for s in suspects)
    assert all(0.0 <= s.score <= 1.0 and s.kind in ("overlooked", "swap", "badloc") for s in suspects)
    assert queue_suspects(demo.id, suspects, top_k=3) == 3
    assert queue_suspects(demo.id, suspects, top_k=3) == 0  # already on the queue
    items = service.review_queue(demo.dataset_id, source=ReviewSource.LABEL_ERROR)
    assert [i.file for i in items] == [s.file for s in suspects[:3]]
    assert all(i.reason.startswith("Label quality") and i.score is not None for i in items)
    with pytest.raises(BadInputError):
        start_label_error_scan(demo.id, top_k=0, actor=ADMIN)


def test_label_error_scan_takes_a_registered_model_checked_by_hash(demo: DatasetVersion, grid_weights: Path) -> None:
    """The scan predicts with a registered model by id (never a path), and refuses one whose file changed."""
    run = add_finished_run(grid_weights, name="grid-run")
    weights = Path(str(run.weights_path))
    with session_scope() as session:
        model = model_store.register_model(
            session=session, name="grid", weights_path=str(weights), run_id=run.id, weights_sha256=file_sha256(weights)
        )
    with pytest.raises(NotFoundError):
        start_label_error_scan(demo.id, actor=ADMIN, model_id=model.id + 1)
    suspects = find_label_errors(demo.id, model_id=model.id)
    assert sorted(s.file for s in suspects) == service.version_images(demo.id).files
    weights.write_bytes(weights.read_bytes() + b"tampered")
    with pytest.raises(BadInputError, match="changed since it was registered"):
        find_label_errors(demo.id, model_id=model.id)


def test_queue_filters_dismiss_flag_and_diff(demo: DatasetVersion) -> None:
    first, second = service.version_images(demo.id).files[:2]
    with session_scope() as session:
        review_store.add_review_item(
            session=session, source="feedback", reason="wrong", file=first, dataset_version_id=demo.id
        )
        review_store.add_review_item(
            session=session,
            source="label_error",
            reason="swap",
            file=second,
            dataset_version_id=demo.id,
            class_name="egg",
        )
    flagged = service.flag_for_review(demo.id, first, "look at the bread", actor=ADMIN)
    assert flagged.source == "user"
    queue = service.review_queue(demo.dataset_id)
    assert service.queue_files(queue) == [first, second]
    assert [i.file for i in service.review_queue(demo.dataset_id, class_name="egg")] == [second]
    assert service.review_queue(demo.dataset_id, source="drift") == []
    with pytest.raises(BadInputError):
        service.dismiss_items([queue[1].id], "  ", actor=ADMIN)
    # A megabyte of reason (the attack) is refused in one line, by the flag and by the dismissal, nothing stored.
    for attempt in (
        lambda: service.flag_for_review(demo.id, first, "x" * 1_000_000, actor=ADMIN),
        lambda: service.dismiss_items([queue[1].id], "x" * 1_000_000, actor=ADMIN),
    ):
        with pytest.raises(BadInputError, match="at most 1000 characters") as refused:
            attempt()
        assert "\n" not in str(refused.value)
    assert service.queue_files(service.review_queue(demo.dataset_id)) == [first, second]
    assert len(service.review_queue(demo.dataset_id)) == len(queue)
    assert service.dismiss_items([queue[1].id], "labels are right", by="ana", actor=ADMIN) == 1
    done = service.review_queue(demo.dataset_id, status="dismissed")
    assert [(i.file, i.resolution, i.resolved_by) for i in done] == [(second, "labels are right", "ana")]

    image = service.load_editor_image(demo.id, first)
    moved = [(n, (b[0] + 3, b[1], b[2] + 3, b[3])) for n, b in image.boxes[:1]] + list(image.boxes[1:])
    saved = service.save_image_boxes(demo.id, first, moved, message="nudge", author="ana", actor=ADMIN)
    diff = service.diff_versions(demo.id, saved.version.id)
    assert diff.boxes.totals == {"added": 0, "removed": 0, "moved": 1, "resized": 0, "reclassified": 0}
    assert list(diff.images) == [first] and diff.images_added == diff.images_removed == []
    assert service.diff_versions(saved.version.id, demo.id).boxes.totals["moved"] == 1
    with pytest.raises(BadInputError):
        service.save_image_boxes(demo.id, first, moved, message=" ", actor=ADMIN)


def test_validate_and_retrain_needs_an_earlier_run(demo: DatasetVersion) -> None:
    with pytest.raises(BadInputError, match="No finished training run"):
        start_validate_retrain(demo.id, actor=ADMIN)


def test_a_version_folder_pointing_elsewhere_cannot_be_edited(demo: DatasetVersion, tmp_path: Path) -> None:
    import shutil

    import yaml

    copy = tmp_path / "copy"
    shutil.copytree(demo.path, copy, copy_function=shutil.copyfile)  # its data.yaml still names the original
    with pytest.raises(BadInputError, match="outside its own folder"):
        index_version(copy)
    data = yaml.safe_load((copy / "data.yaml").read_text())
    assert data["path"] == demo.path
    first = sorted(index_version(Path(demo.path)).images)[0]
    saved = save_edits("food", 1, [ImageEdit(first, (EditedBox("egg", (1, 1, 9, 9)),))], message="one egg", actor=ADMIN)
    assert saved.changelog["totals"]["added"] == 1
