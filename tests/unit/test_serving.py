"""backend.serving.service: which model serves, one detection end to end into the prediction log, bad input,
feedback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from backend.core.errors import BadInputError, NotFoundError
from backend.core.settings import Settings, get_settings
from backend.imaging.features import FEATURE_NAMES, image_features
from backend.imaging.loading import load_image
from backend.serving import service as service_module
from backend.serving.copies import STORED_MAX_SIDE, THUMB_MAX_SIDE, wait_for_copies
from backend.serving.familiarity import Familiarity
from backend.serving.inference import Detector
from backend.serving.prediction import predict_picture
from backend.serving.prediction_log import log_prediction
from backend.serving.service import (
    ServingModel,
    best_per_class,
    detect_image,
    load_detector,
    record_feedback,
    serving_model,
)
from backend.store import predictions as prediction_store
from backend.store import registered_models as model_store
from backend.store import review as review_store
from backend.store.engine import session_scope
from tests.utils import images as imgs
from tests.utils.actors import ADMIN
from tests.utils.serving_models import add_finished_run, promote
from tests.utils.shared import TinyModels
from tests.utils.tiny_data import expected_grid_boxes


@pytest.fixture(scope="module", name="weights")
def fixture_weights(tiny_models: TinyModels) -> dict[str, Path]:
    """A grid detector (always reports "banana" boxes with known geometry) and an untrained one, imgsz 64, built
    once per test run and shared read-only (`add_finished_run` copies them)."""
    return {"grid": tiny_models.grid(imgsz=64), "random": tiny_models.untrained(imgsz=64)}


@pytest.fixture(scope="module", name="detector")
def fixture_detector(weights: dict[str, Path]) -> Detector:
    return Detector.load(weights["grid"])


@pytest.fixture(name="model")
def fixture_model(workspace: Settings, weights: dict[str, Path]) -> Iterator[ServingModel]:
    """The grid model registered as this workspace's newest run."""
    add_finished_run(weights["grid"], name="grid-run")
    model = serving_model()
    assert model is not None
    yield model


def _predictions() -> list:
    with session_scope() as session:
        return prediction_store.list_predictions(session=session, limit=1000)


def _feedback_counts() -> dict[str, dict[str, int]]:
    with session_scope() as session:
        return prediction_store.feedback_counts(session=session)


def _stored_files(settings: Settings) -> list[Path]:
    wait_for_copies()
    root = settings.predictions_dir
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# --------------------------------------------------------------------------------------------------- which model


def test_no_model_without_finished_runs(workspace: Settings, weights: dict[str, Path]) -> None:
    assert serving_model() is None
    add_finished_run(weights["grid"], name="failed-run", status="failed")
    assert serving_model() is None  # a failed run never serves


def test_newest_run_serves_until_a_model_is_promoted(workspace: Settings, weights: dict[str, Path]) -> None:
    older = add_finished_run(weights["grid"], name="older")
    newer = add_finished_run(weights["random"], name="newer")
    gone = add_finished_run(weights["random"], name="gone")
    Path(str(gone.weights_path)).unlink()  # newest, but its weights were deleted: skipped

    fallback = serving_model()
    assert fallback is not None
    assert (fallback.run_id, fallback.model_id, fallback.production) == (newer.id, None, False)
    assert fallback.kind == "pt" and fallback.weights == Path(str(newer.weights_path)).resolve()
    assert "newest run newer" in fallback.label
    assert fallback.log_label == f"run {newer.id}: newer"
    assert (fallback.default_conf, fallback.default_iou) == (0.25, 0.45)

    registered = promote(older, name="food-v1", class_thresholds={"banana": 0.4, "apple": 0.3, "bad": "x"})
    served = serving_model()
    assert served is not None
    assert (served.model_id, served.run_id, served.production) == (registered.id, older.id, True)
    assert "production model food-v1" in served.label
    assert served.class_thresholds == {"banana": 0.4, "apple": 0.3}  # the non-number entry is dropped
    assert served.default_conf == 0.3  # the lowest per-class threshold


def test_production_model_serves_its_onnx_export_when_there_is_one(
    workspace: Settings, weights: dict[str, Path]
) -> None:
    run = add_finished_run(weights["grid"], name="exported")
    pt = Path(str(run.weights_path))
    onnx = pt.with_suffix(".onnx")
    onnx.write_bytes(b"onnx placeholder")  # only its existence matters here
    registered = promote(run)
    with session_scope() as session:
        model_store.update_model(session=session, model_id=registered.id, onnx_path=str(onnx))
    served = serving_model()
    assert served is not None and served.kind == "onnx" and served.weights == onnx.resolve()  # ONNX preferred

    onnx.unlink()
    served = serving_model()
    assert served is not None and served.kind == "pt" and served.weights == pt.resolve()

    pt.unlink()
    with pytest.raises(NotFoundError, match="no weights on disk"):
        serving_model()


def test_load_detector_only_loads_pt_from_the_runs_folder(
    model: ServingModel, weights: dict[str, Path], tmp_path: Path
) -> None:
    detector = load_detector(model, device="cpu")
    assert detector.names == ["apple", "banana", "broccoli"]
    outside = ServingModel(
        model_id=None, run_id=None, name="uploaded", label="x", weights=weights["grid"], kind="pt", production=False
    )
    with pytest.raises(BadInputError, match="outside"):
        load_detector(outside, device="cpu")


# --------------------------------------------------------------------------------------------------- detection


def test_detect_image_logs_features_detections_and_pictures(
    workspace: Settings, model: ServingModel, detector: Detector
) -> None:
    picture = imgs.noise_image((1600, 900), seed=3)
    data = imgs.encode(picture, "JPEG", quality=90)
    outcome = detect_image(data, name="dinner.jpg", detector=detector, model=model, conf=0.25, iou=0.45)

    [row] = _predictions()
    assert row.id == outcome.prediction_id
    assert (row.model_id, row.model_label, row.source) == (None, model.log_label, "upload")
    assert (row.image_name, row.conf, row.iou) == ("dinner.jpg", 0.25, 0.45)
    assert row.image_sha256 == outcome.sha256 and len(row.image_sha256) == 64
    # Features are those of the shared monitoring function on the same upright picture.
    loaded = load_image(data)
    assert row.features == image_features(loaded.image, file_size=len(data)).as_dict()
    assert list(row.features) == list(FEATURE_NAMES)
    assert (row.features["width"], row.features["height"], row.features["file_size"]) == (1600, 900, len(data))
    # Detections: the grid model's banana boxes, in the logged JSON form, highest confidence first.
    assert row.n_detections == len(outcome.detections) > 0
    assert row.detections == [d.as_dict() for d in outcome.detections]
    assert set(row.detections[0]) == {"class", "confidence", "probability", "box"}
    # No calibration beside this model's weights: its raw score is taken as the probability.
    assert all(d["probability"] == d["confidence"] for d in row.detections) and not outcome.calibrated
    assert {d["class"] for d in row.detections} == {"banana"}
    assert row.latency_ms == outcome.latency_ms > 0
    assert outcome.total_ms >= outcome.latency_ms
    # A resized copy and a thumbnail under predictions/YYYY/MM/DD/, written after the answer.
    wait_for_copies()
    copy, thumb = Path(str(row.image_path)), Path(str(row.thumb_path))
    assert copy == outcome.image_path and thumb == outcome.thumb_path
    assert copy.parent == thumb.parent and copy.parent.parent.parent.parent == workspace.predictions_dir.resolve()
    with Image.open(copy) as stored, Image.open(thumb) as small:
        assert stored.format == small.format == "JPEG"
        assert stored.size == (STORED_MAX_SIDE, 576)
        assert max(small.size) == THUMB_MAX_SIDE
    assert _stored_files(workspace) == sorted([copy, thumb])
    # What the page shows.
    assert outcome.annotated.size == outcome.original.size == (1600, 900)
    assert outcome.annotated.tobytes() != outcome.original.tobytes()
    rows = outcome.table_rows()
    assert rows[0]["#"] == 1 and rows[0]["item"] == "banana" and len(rows) == len(outcome.detections)
    assert (
        outcome.best_per_class()
        == best_per_class([outcome])
        == {"banana": max(d.confidence for d in outcome.detections)}
    )
    assert outcome.model_label == model.label


def test_predict_picture_writes_nothing_and_answers_like_detect_image(
    workspace: Settings, model: ServingModel, detector: Detector
) -> None:
    data = imgs.encode(imgs.noise_image((320, 200), seed=5), "JPEG", quality=90)
    picture = load_image(data, name="lunch.jpg")
    answer = predict_picture(detector, picture, model=model, conf=0.3, iou=0.5, class_thresholds={"banana": 0.5})
    # The pure step: no prediction row, no picture file, not even the predictions folder.
    assert _predictions() == []
    assert _stored_files(workspace) == [] and not workspace.predictions_dir.exists()
    assert answer.detections and {d.class_name for d in answer.detections} == {"banana"}
    assert answer.features == image_features(picture.image, file_size=len(data)).as_dict()
    assert (answer.model, answer.conf, answer.iou, answer.picture) == (model, 0.3, 0.5, picture)
    assert answer.latency_ms > 0

    outcome = detect_image(
        data, name="lunch.jpg", detector=detector, model=model, conf=0.3, iou=0.5, class_thresholds={"banana": 0.5}
    )
    assert outcome.detections == list(answer.detections)
    assert outcome.features == answer.features
    assert outcome.sha256 == picture.sha256


def test_detect_image_logs_exactly_one_row_per_picture(
    workspace: Settings, model: ServingModel, detector: Detector
) -> None:
    first = detect_image(imgs.solid_jpeg(), name="a.jpg", detector=detector, model=model)
    [row] = _predictions()
    assert row.id == first.prediction_id and row.detections == [d.as_dict() for d in first.detections]
    second = detect_image(imgs.noise_png((80, 60)), name="b.png", detector=detector, model=model)
    assert sorted(r.id for r in _predictions()) == sorted([first.prediction_id, second.prediction_id])
    assert first.prediction_id != second.prediction_id
    assert len(_stored_files(workspace)) == 4  # a copy and a thumbnail per row


def test_a_second_models_answer_is_logged_under_its_own_label(
    workspace: Settings, weights: dict[str, Path], model: ServingModel, detector: Detector
) -> None:
    """Any model can answer through the pure step; the log names the model that answered, not the serving one."""
    add_finished_run(weights["random"], name="shadow-run")
    shadow = serving_model()  # the newest run now
    assert shadow is not None and shadow.run_id != model.run_id
    picture = load_image(imgs.solid_jpeg(), name="a.jpg")
    answer = predict_picture(load_detector(shadow), picture, model=shadow)
    assert _predictions() == []
    logged = log_prediction(answer, source="cli", image_name="a.jpg", store_images=False)
    [row] = _predictions()
    assert (row.id, row.model_label, row.source, row.image_name) == (
        logged.prediction_id,
        shadow.log_label,
        "cli",
        "a.jpg",
    )
    assert (row.image_sha256, row.features, row.n_detections) == (
        picture.sha256,
        dict(answer.features),
        len(answer.detections),
    )
    assert logged.image_path is None and _stored_files(workspace) == []


def test_production_model_id_is_logged(workspace: Settings, weights: dict[str, Path], detector: Detector) -> None:
    registered = promote(add_finished_run(weights["grid"], name="prod"))
    model = serving_model()
    assert model is not None
    detect_image(imgs.solid_jpeg(), name="a.jpg", detector=detector, model=model, source="camera")
    [row] = _predictions()
    assert (row.model_id, row.model_label, row.source) == (registered.id, f"model {registered.id}: food-v1", "camera")


def test_store_images_off_keeps_features_only(workspace: Settings, model: ServingModel, detector: Detector) -> None:
    outcome = detect_image(imgs.noise_png((80, 60)), name="a.png", detector=detector, model=model, store_images=False)
    [row] = _predictions()
    assert row.image_path is None and row.thumb_path is None and outcome.image_path is None
    assert row.features["width"] == 80 and row.n_detections > 0
    assert _stored_files(workspace) == []


def test_store_images_follows_the_setting(
    workspace: Settings, model: ServingModel, detector: Detector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLATEOPS_STORE_PREDICTION_IMAGES", "false")
    get_settings.cache_clear()
    detect_image(imgs.solid_jpeg(), name="a.jpg", detector=detector, model=model)
    [row] = _predictions()
    assert row.image_path is None and row.features
    assert _stored_files(get_settings()) == []


def test_exif_rotated_photo_gives_boxes_on_the_upright_picture(
    workspace: Settings, model: ServingModel, detector: Detector
) -> None:
    data = imgs.exif_rotated_jpeg((120, 60), orientation=6)  # stored landscape, shown portrait 60×120
    outcome = detect_image(data, name="phone.jpg", detector=detector, model=model)
    assert outcome.original.size == (60, 120)
    assert any("EXIF" in note for note in outcome.notes)
    expected = expected_grid_boxes(60, 120, input_w=32, input_h=64)
    boxes = sorted(tuple(d["box"]) for d in _predictions()[0].detections)
    np.testing.assert_allclose(np.array(boxes), np.array(expected), atol=0.11)
    assert max(b[3] for b in boxes) > 60  # below the stored picture's height: upright coordinates
    wait_for_copies()
    with Image.open(str(outcome.image_path)) as stored:
        assert stored.size == (60, 120)  # the kept copy is upright too
        assert stored.getexif().get(imgs.EXIF_ORIENTATION) is None


@pytest.mark.parametrize(
    ("builder", "note"),
    [
        (imgs.cmyk_jpeg, "CMYK"),
        (imgs.gray16_png, "16-bit"),
        (imgs.rgba_png, "white"),
    ],
    ids=["cmyk", "16-bit", "alpha"],
)
def test_odd_but_valid_pictures_are_converted_and_logged(
    workspace: Settings, model: ServingModel, detector: Detector, builder: Callable[[], bytes], note: str
) -> None:
    outcome = detect_image(builder(), name="odd.png", detector=detector, model=model)
    assert outcome.original.mode == "RGB"
    assert any(note in n for n in outcome.notes), outcome.notes
    [row] = _predictions()
    assert row.features["width"] == outcome.original.width and row.n_detections > 0


# --------------------------------------------------------------------------------------------------- bad input

BAD_INPUTS: dict[str, tuple[Callable[[], bytes], str]] = {
    "non-image": (imgs.non_image_bytes, "not a picture"),
    "empty": (lambda: b"", "empty"),
    "gif": (imgs.gif_bytes, "GIF"),
    "truncated": (lambda: imgs.truncated(imgs.noise_png((64, 48))), "corrupt or truncated"),
    "corrupt": (lambda: imgs.corrupt(imgs.noise_png((64, 48)), start=80, length=200), "damaged|corrupt"),
    "bomb": (imgs.bomb_png, "megapixel"),
}


@pytest.mark.parametrize("case", list(BAD_INPUTS))
def test_bad_input_is_refused_before_anything_is_written(
    workspace: Settings, model: ServingModel, detector: Detector, case: str
) -> None:
    builder, message = BAD_INPUTS[case]
    with pytest.raises(BadInputError, match=message) as info:
        detect_image(builder(), name=f"{case}.jpg", detector=detector, model=model)
    assert str(info.value).startswith(f"{case}.jpg"), "the message names the file"
    assert _predictions() == []
    assert _stored_files(workspace) == []


def test_file_over_the_upload_limit_is_refused(
    workspace: Settings, model: ServingModel, detector: Detector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PLATEOPS_UPLOAD_MAX_MB", "1")
    get_settings.cache_clear()
    data = imgs.noise_png((800, 700))
    assert len(data) > 1024 * 1024
    with pytest.raises(BadInputError, match=r"too large.*limit is 1 MB"):
        detect_image(data, name="huge.png", detector=detector, model=model)
    assert _predictions() == []


def test_bad_thresholds_are_refused(workspace: Settings, model: ServingModel, detector: Detector) -> None:
    with pytest.raises(BadInputError, match=r"Confidence \(conf\) must be a number between 0 and 1 \(got 1.5\)"):
        detect_image(imgs.solid_jpeg(), name="a.jpg", detector=detector, model=model, conf=1.5)
    with pytest.raises(BadInputError, match=r"IoU \(iou\) must be a number between 0 and 1 \(got -0.1\)"):
        detect_image(imgs.solid_jpeg(), name="a.jpg", detector=detector, model=model, iou=-0.1)
    picture = load_image(imgs.solid_jpeg(), name="a.jpg")
    with pytest.raises(BadInputError, match="between 0 and 1"):
        predict_picture(detector, picture, model=model, conf=2.0)
    assert _predictions() == []
    assert _stored_files(workspace) == []


def test_failed_log_write_leaves_no_picture_behind(
    workspace: Settings, model: ServingModel, detector: Detector, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(**_fields: object) -> None:
        raise OSError("disk full")

    monkeypatch.setattr(prediction_store, "add_prediction", refuse)
    with pytest.raises(OSError, match="disk full"):
        detect_image(imgs.solid_jpeg(), name="a.jpg", detector=detector, model=model)
    assert _stored_files(workspace) == []


# --------------------------------------------------------------------------------------------------- feedback


def test_feedback_is_counted_and_wrong_or_missed_enter_the_review_queue(
    workspace: Settings, model: ServingModel, detector: Detector
) -> None:
    outcome = detect_image(imgs.solid_jpeg(), name="lunch.jpg", detector=detector, model=model)
    pid = outcome.prediction_id
    record_feedback(pid, "correct", class_name="banana", detection_index=0, actor=ADMIN)
    with session_scope() as session:
        assert review_store.list_review_items(session=session) == []

    wrong = record_feedback(pid, "wrong", class_name="banana", detection_index=1, correct_class="apple", actor=ADMIN)
    assert (wrong.kind, wrong.correct_class, wrong.detection_index) == ("wrong", "apple", 1)
    record_feedback(pid, "missed", class_name="broccoli", actor=ADMIN)

    with session_scope() as session:
        queue = review_store.list_review_items(session=session)
    assert [(item.source, item.prediction_id, item.file) for item in queue] == [("feedback", pid, "lunch.jpg")] * 2
    assert "really 'apple'" in queue[0].reason and "missed 'broccoli'" in queue[1].reason
    assert _feedback_counts() == {
        "banana": {"correct": 1, "wrong": 1, "missed": 0},
        "broccoli": {"correct": 0, "wrong": 0, "missed": 1},
    }


def test_bad_feedback_is_refused(workspace: Settings, model: ServingModel, detector: Detector) -> None:
    pid = detect_image(imgs.solid_jpeg(), name="a.jpg", detector=detector, model=model).prediction_id
    with pytest.raises(BadInputError, match="correct, wrong, missed"):
        record_feedback(pid, "great", class_name="banana", actor=ADMIN)
    with pytest.raises(BadInputError, match="really is"):
        record_feedback(pid, "wrong", class_name="banana", actor=ADMIN)
    with pytest.raises(BadInputError, match="pick the item"):
        record_feedback(pid, "wrong", class_name="banana", correct_class="banana", actor=ADMIN)
    with pytest.raises(BadInputError, match="which item"):
        record_feedback(pid, "missed", actor=ADMIN)
    with pytest.raises(NotFoundError):
        record_feedback(pid + 100, "correct", class_name="banana", actor=ADMIN)
    assert _feedback_counts() == {}


def test_per_class_thresholds_filter_each_class_at_its_own_confidence(
    workspace: Settings, model: ServingModel, detector: Detector
) -> None:
    data = imgs.solid_jpeg()
    kept = detect_image(data, name="a.jpg", detector=detector, model=model, class_thresholds={"banana": 0.5})
    assert kept.detections and {d.class_name for d in kept.detections} == {"banana"}
    strict = detect_image(data, name="b.jpg", detector=detector, model=model, class_thresholds={"banana": 0.99999})
    assert strict.detections == []  # the grid model's bananas score sigmoid(8) ≈ 0.9997
    other = detect_image(data, name="c.jpg", detector=detector, model=model, class_thresholds={"apple": 0.99999})
    assert len(other.detections) == len(kept.detections)  # classes without a threshold keep the global one
    rows = _predictions()
    assert sorted(r.n_detections for r in rows) == sorted([len(kept.detections), 0, len(kept.detections)])


def test_an_unfamiliar_answer_reaches_the_outcome_with_nothing_to_show(
    workspace: Settings, model: ServingModel, detector: Detector, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The serving answer's familiarity verdict is the page's: an unfamiliar picture shows no item, box or recipe
    input, even when the answer it came with still held detections."""
    answer_of = service_module.predict_picture
    monkeypatch.setattr(
        service_module,
        "predict_picture",
        lambda *args, **kwargs: replace(
            answer_of(*args, **kwargs), familiarity=Familiarity(familiar=False, score=9.0, threshold=1.0)
        ),
    )
    outcome = detect_image(imgs.solid_jpeg(), name="cat.jpg", detector=detector, model=model, conf=0.25)
    assert outcome.detections, "the grid model still answers on the picture; the verdict alone must hide it"
    assert not outcome.familiar
    assert outcome.items() == [] and outcome.items(less_certain=True) == []
    assert outcome.picture() is outcome.original and outcome.picture(less_certain=True) is outcome.original
    assert outcome.best_per_class(less_certain=True) == {} and outcome.table_rows() == []
