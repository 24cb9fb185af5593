"""Serving: which model answers end users, one detection end to end (load → detect → features → log), feedback.

The Detect page and the benchmark call `detect_image` for every picture; it is the only place a prediction row is
written for an upload or a camera shot, so the prediction log (monitoring's "current" data) always holds features
computed by `backend.imaging.features.image_features`, the same function the training reference uses.

`detect_image` only strings three steps together: `backend.serving.prediction.predict_picture` (the pure step: one
model's answer and the picture's features, nothing written, so any model can answer), `draw_detections`, and
`backend.serving.prediction_log.log_prediction` (the row, then the picture copies). Confidence and IoU are checked
by `backend.serving.thresholds.resolve_thresholds`, the one rule every entry point uses.

Which model serves (`serving_model`): the registry's production model; until one is promoted, the newest
succeeded training run whose weights are on disk. A production model's ONNX export serves when it exists (onnxruntime
on CPU, about twice as fast); its `.pt` otherwise. Registered files are checked against the sha256 recorded at
registration: a changed or corrupt file is refused, and the model that was production before it keeps answering
(`ServingModel.warning` says so). `.pt` files are pickles (loading runs code), so `load_detector` only loads weights
from the workspace runs folder; the Detect page accepts pictures, never model files.

Bad input: `detect_image` checks the thresholds and loads the picture with `backend.imaging.loading.load_image` first,
so bad thresholds or a file it refuses raise `BadInputError` before anything is written (no row, no image file).

Cost: the monitoring features are measured on a second thread while the model runs (numpy, Pillow and torch all
release the GIL); the drawing and the row follow. On the quiet 2-core machine this took the page path from 1.14 to
1.06 of raw `predict` with the model's own time unchanged (bench/detect.py); an earlier try under heavy load (other
work on both cores) had made the model slower, so a busy machine may see less of the gain. The two JPEG copies are
encoded and written after the answer, on one background thread (`backend.serving.copies`), once the row that points
at them is stored (`copies.wait_for_copies` waits for them).

Shadow answers: when a candidate is in shadow (`backend.registry.shadow` chooses it; `shadow_model` reads the
choice at most every few seconds), `detect_image` hands the logged answer to `backend.serving.shadow` once the row is
stored; the candidate answers on a bounded, low-priority background thread and its answer goes to
`shadow_predictions`, never to the prediction log. The end user's call does not wait for it.

Stored pictures: unless `store_prediction_images` is off, a copy resized to at most `copies.STORED_MAX_SIDE` pixels
and a thumbnail of at most `copies.THUMB_MAX_SIDE` go to `predictions_dir/YYYY/MM/DD/<uuid>.jpg` and
`<uuid>_thumb.jpg` (upright, metadata stripped). Detection boxes stay in pixels of the full-size upright picture,
whose size is in the row's `features` (`width`, `height`); scale them by `copy.width / features["width"]` to draw
them on the copy.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from PIL import Image

from backend.core.access import Actor, Permission
from backend.core.enums import FeedbackKind, ModelStage, RunStatus
from backend.core.errors import BadInputError, NotFoundError, PlateOpsError, cap_message
from backend.core.settings import get_settings
from backend.imaging.drawing import draw_detections
from backend.imaging.loading import load_image
from backend.serving.certainty import ensure_calibration, item_words, probability_of
from backend.serving.familiarity import Familiarity
from backend.serving.inference import WEIGHT_KINDS, Detection, Detector, ModelKind
from backend.serving.prediction import predict_picture
from backend.serving.prediction_log import Source, log_prediction
from backend.serving.served_model import ServingModel
from backend.serving.shadow import schedule_shadow, shadow_queue
from backend.serving.thresholds import resolve_thresholds
from backend.store import predictions as prediction_store
from backend.store import registered_models as model_store
from backend.store import runs as run_store
from backend.store import shadow as shadow_store
from backend.store.audit import authorize
from backend.store.engine import session_scope
from backend.store.records import Feedback, RegisteredModel, Run
from backend.training.embedding_cache import EmbeddingCache
from backend.training.runtimes import served_sha256

logger = logging.getLogger(__name__)

FEEDBACK_KINDS: tuple[FeedbackKind, ...] = tuple(FeedbackKind)
_MAX_CLASS_NAME = 100  # the feedback table's column width


@dataclass
class DetectOutcome:
    """What one detection on one picture produced.

    Attributes:
        prediction_id: Id of the logged prediction row (for feedback).
        image_name: The file name the user gave.
        sha256: Hex SHA-256 of the file bytes.
        original: The upright RGB picture that was detected on.
        annotated: `original` with the shown items' boxes drawn, each tagged with its name and word ("tomato: likely").
        detections: Objects shown (at or above their class's threshold as a calibrated probability), highest
            probability first; boxes in `original` pixels. The prediction row logs these.
        latency_ms: Wall time of the model's predict call.
        total_ms: Wall time of the whole `detect_image` call (load, detect, features, files, log).
        features: The monitoring features logged with the row.
        notes: Conversions done while loading ("converted from CMYK", "rotated upright from EXIF orientation 6").
        image_path: The stored resized copy, or None when pictures are not kept.
        thumb_path: The stored thumbnail, or None.
        model_label: Which model answered, in words.
        less_certain: Objects from `detect.floor` up to their class's threshold, highest probability first (not
            logged; feedback on them carries no detection index).
        annotated_all: `original` with the shown and the less certain boxes drawn; None when there are no less
            certain items.
        calibrated: Whether the probabilities come from the model's calibration (else they are raw scores).
        familiar: False when the picture does not look like a food photo: the page then shows no items, boxes or
            recipes.
        familiarity_note: Why it does not look like one, in plain words ("" when familiar).
        familiarity: Whether the picture is like the model's training pictures; when `familiarity.familiar` is
            False, `detections` is empty ("this does not look like a food photo": show no recipes either).
    """

    prediction_id: int
    image_name: str
    sha256: str
    original: Image.Image
    annotated: Image.Image
    detections: list[Detection]
    latency_ms: float
    total_ms: float
    features: dict[str, float | int]
    notes: list[str]
    image_path: Path | None
    thumb_path: Path | None
    model_label: str
    less_certain: list[Detection] = field(default_factory=list)
    annotated_all: Image.Image | None = None
    calibrated: bool = False
    familiar: bool = True
    familiarity_note: str = ""
    familiarity: Familiarity = field(default_factory=lambda: Familiarity(familiar=True, note="not checked"))

    def items(self, *, less_certain: bool = False) -> list[Detection]:
        """The items to show: none for an unfamiliar picture; the shown ones, plus the less certain on request."""
        if not self.familiar:
            return []
        return [*self.detections, *(self.less_certain if less_certain else [])]

    def picture(self, *, less_certain: bool = False) -> Image.Image:
        """The picture to show: the original for an unfamiliar one, else with the boxes of `items(less_certain)`."""
        if not self.familiar:
            return self.original
        return self.annotated_all if less_certain and self.annotated_all is not None else self.annotated

    def table_rows(self, *, less_certain: bool = False) -> list[dict[str, Any]]:
        """One row per item for the staff table: number, item, word, calibrated probability, raw score, box."""
        return [
            {
                "#": index + 1,
                "item": det.class_name,
                "how sure": item_words(det).removeprefix(f"{det.class_name}: "),
                "probability": probability_of(det),
                "model score": det.confidence,
                "box (x1, y1, x2, y2)": ", ".join(f"{v:.0f}" for v in det.box),
            }
            for index, det in enumerate(self.items(less_certain=less_certain))
        ]

    def best_per_class(self, *, less_certain: bool = False) -> dict[str, float]:
        """Highest probability per class among the items shown (the input `rank_recipes` takes)."""
        return best_per_class([self], less_certain=less_certain)


# --------------------------------------------------------------------------------------------------- the model


def serving_model() -> ServingModel | None:
    """The model that should answer detection requests now.

    Returns:
        The registry's production model; else the newest succeeded run whose weights are on disk; else None
        (nothing trained yet).

    Raises:
        NotFoundError: A production model is set but neither its .pt nor its ONNX file exists any more.
    """
    with session_scope() as session:
        production = model_store.get_production_model(session=session)
        succeeded = RunStatus.SUCCEEDED
        runs = [] if production is not None else run_store.list_runs(session=session, status=succeeded, limit=50)
    if production is not None:
        served = _from_registered(production)
        problem = integrity_problem(served)
        if problem is None:
            return served
        fallback = _earlier_production(production)
        if fallback is None:
            raise BadInputError(problem)
        logger.warning("%s Serving %s instead.", problem, fallback.label)
        return replace(fallback, warning=f"{problem} {fallback.label} answers instead.")
    for run in runs:
        model = _from_run(run)
        if model is not None:
            return model
    return None


def registered_model(model_id: int) -> ServingModel:
    """A registered model (any stage) as `load_detector` takes it: its ONNX export when present, else its .pt.

    Raises:
        NotFoundError: No such model, or its files are gone.
    """
    with session_scope() as session:
        model = model_store.get_model(session=session, model_id=model_id)
    served = _from_registered(model)
    stage = "production model" if model.stage == ModelStage.PRODUCTION else f"{model.stage} model"
    return replace(served, label=f"{stage} {model.name} (#{model.id})", production=model.stage == ModelStage.PRODUCTION)


def _earlier_production(current: RegisteredModel) -> ServingModel | None:
    """The most recently promoted other model whose files are intact (what answers while `current` is refused)."""
    with session_scope() as session:
        earlier = [m for m in model_store.list_models(session=session) if m.id != current.id and m.promoted_at]
    for model in sorted(earlier, key=lambda m: m.promoted_at or current.created_at, reverse=True):
        try:
            served = _from_registered(model)
        except NotFoundError:
            continue
        if integrity_problem(served) is None:
            return replace(served, label=f"earlier production model {model.name} (#{model.id})")
    return None


@lru_cache(maxsize=64)
def _sha256_of(path: str, mtime_ns: int, size: int) -> str:
    """sha256 of a file, cached per path, modification time and size (a changed file is hashed again)."""
    del mtime_ns, size  # cache keys only
    return served_sha256(Path(path))  # an OpenVINO model: its .xml and .bin together


def integrity_problem(model: ServingModel) -> str | None:
    """None when the model's weights match the sha256 recorded at registration (or none was recorded), else why not."""
    if not model.sha256:
        return None
    try:
        stat = model.weights.stat()
        actual = _sha256_of(str(model.weights), stat.st_mtime_ns, stat.st_size)
    except OSError as exc:
        return f"The weights of {model.name} cannot be read ({exc.strerror or exc}); refused."
    if actual != model.sha256:
        return (
            f"The weights file of {model.name} ({model.weights.name}) changed since it was registered "
            "(sha256 differs); refused."
        )
    return None


def _from_registered(model: RegisteredModel) -> ServingModel:
    """Describe a registered model, preferring its ONNX export (faster on CPU) and falling back to its .pt."""
    onnx = _existing(model.onnx_path)
    weights = onnx or _existing(model.weights_path)
    if weights is None:
        raise NotFoundError(
            f"The production model {model.name} has no weights on disk (looked for {model.weights_path}"
            + (f" and {model.onnx_path}" if model.onnx_path else "")
            + "). Promote another model on the Models page."
        )
    return ServingModel(
        model_id=model.id,
        run_id=model.run_id,
        name=model.name,
        label=f"production model {model.name} (#{model.id})",
        weights=weights,
        kind=_kind(weights),
        production=True,
        class_thresholds=_thresholds(model.class_thresholds),
        mtime_ns=weights.stat().st_mtime_ns,
        sha256=model.onnx_sha256 if onnx is not None else model.weights_sha256,
    )


def _from_run(run: Run) -> ServingModel | None:
    """Describe a finished run's weights, or None when they are not on disk (or not a model file)."""
    weights = _existing(run.weights_path)
    if weights is None or weights.suffix.lower() not in (".pt", ".onnx"):
        return None
    return ServingModel(
        model_id=None,
        run_id=run.id,
        name=run.name,
        label=f"newest run {run.name} (run #{run.id}, not promoted yet)",
        weights=weights,
        kind=_kind(weights),
        production=False,
        mtime_ns=weights.stat().st_mtime_ns,
    )


def _existing(path_text: str | None) -> Path | None:
    """The path as an existing file (relative paths tried from the working folder, then the workspace)."""
    if not path_text:
        return None
    path = Path(path_text)
    candidates = [path] if path.is_absolute() else [path, get_settings().home / path]
    return next((p.resolve() for p in candidates if p.is_file()), None)


def _kind(weights: Path) -> ModelKind:
    return WEIGHT_KINDS.get(weights.suffix.lower(), "pt")


def _thresholds(raw: dict[str, Any] | None) -> dict[str, float]:
    """Keep the per-class thresholds that are numbers within 0..1 (a bad registry entry must not break serving)."""
    out: dict[str, float] = {}
    for name, value in (raw or {}).items():
        if isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= float(value) <= 1.0:
            out[str(name)] = float(value)
    return out


def default_device() -> str:
    """ "0" (the first CUDA GPU) when torch sees one, else "cpu"."""
    import torch  # heavy; only when a model is loaded

    return "0" if torch.cuda.is_available() else "cpu"


def load_detector(model: ServingModel, *, device: str | None = None) -> Detector:
    """Load the serving model's weights.

    Weights are only loaded from the workspace runs folder (`settings.runs_dir`): loading a `.pt` pickle runs
    code, and only our own training and the registry's export write there. A registered model's file is checked
    against its recorded sha256 first. An older model without a confidence calibration whose dataset is known gets
    one fitted now, once (`backend.serving.certainty.ensure_calibration`).

    Args:
        model: From `serving_model()`.
        device: Torch device; default `default_device()` (CUDA when available, else CPU).

    Returns:
        A warmed-up detector.

    Raises:
        NotFoundError: The weights file is gone.
        BadInputError: Weights outside the runs folder, a file whose sha256 changed since registration, or a
            file that is not a detection model.
    """
    problem = integrity_problem(model)
    if problem is not None:
        raise BadInputError(problem)
    allowed_root = get_settings().runs_dir
    detector = Detector.load(model.weights, device=device or default_device(), allowed_root=allowed_root)
    ensure_calibration(model, detector)
    return detector


# --------------------------------------------------------------------------------------------------- the shadow

_SHADOW_TTL_S = 5.0  # how long a request trusts the last look-up of which model is in shadow (other processes)
_shadow_lock = threading.Lock()
_shadow_seen: tuple[float, ServingModel | None] | None = None
_shadow_detectors: dict[str, Detector] = {}


def shadow_model() -> ServingModel | None:
    """The model in shadow now (`backend.registry.shadow` chooses it), or None; never raises.

    The choice is looked up at most every `_SHADOW_TTL_S` seconds (a Detect replica learns of a change within that
    time; `forget_shadow_choice` makes this process look again at once). A shadow whose files are gone or changed
    is None, with a warning in the log: the shadow must never stop production from answering.
    """
    global _shadow_seen  # pylint: disable=global-statement  # a per-process cache, guarded by _shadow_lock
    with _shadow_lock:
        if _shadow_seen is not None and time.monotonic() - _shadow_seen[0] < _SHADOW_TTL_S:
            return _shadow_seen[1]
    try:
        model = _resolve_shadow()
    except PlateOpsError as exc:
        logger.warning("The model in shadow cannot answer: %s", exc)
        model = None
    with _shadow_lock:
        _shadow_seen = (time.monotonic(), model)
    return model


def forget_shadow_choice() -> None:
    """Look up which model is in shadow again at the next request (the registry calls it after a change)."""
    global _shadow_seen  # pylint: disable=global-statement  # a per-process cache, guarded by _shadow_lock
    with _shadow_lock:
        _shadow_seen = None


def _resolve_shadow() -> ServingModel | None:
    with session_scope() as session:
        event = shadow_store.current_shadow(session=session)
        run_id = event.figures.get("run_id") if event is not None else None
        run = run_store.get_run(session=session, run_id=int(run_id)) if isinstance(run_id, int) else None
    if event is None:
        return None
    if event.model_id is not None:
        model = registered_model(event.model_id)
    elif run is not None and (from_run := _from_run(run)) is not None:
        model = from_run
    else:
        raise NotFoundError("the weights of the model in shadow are gone")
    problem = integrity_problem(model)
    if problem is not None:
        raise BadInputError(problem)
    return replace(model, label=f"shadow {model.name}", production=False)


def shadow_detector() -> tuple[ServingModel, Detector] | None:
    """The model in shadow and its loaded detector (one kept loaded), or None; the shadow queue calls it."""
    model = shadow_model()
    if model is None:
        return None
    with _shadow_lock:
        detector = _shadow_detectors.get(model.cache_key)
    if detector is None:
        detector = load_detector(model)
        with _shadow_lock:
            _shadow_detectors.clear()  # one shadow at a time: the previous one's memory goes
            _shadow_detectors[model.cache_key] = detector
    return model, detector


# --------------------------------------------------------------------------------------------------- detection


def detect_image(
    data: bytes,
    *,
    name: str,
    detector: Detector,
    model: ServingModel,
    conf: float | None = None,
    iou: float | None = None,
    source: Source = "upload",
    store_images: bool | None = None,
    imgsz: int | None = None,
    class_thresholds: Mapping[str, float] | None = None,
) -> DetectOutcome:
    """Detect food on one uploaded picture and log the prediction.

    Args:
        data: The file's bytes as uploaded.
        name: The file name to show and log.
        detector: From `load_detector(model)`.
        model: The serving model (logged as the model that answered).
        conf: Minimum confidence 0..1.
        iou: NMS IoU threshold 0..1.
        source: "upload", "camera" or "cli".
        store_images: Keep a resized copy and a thumbnail; default the `store_prediction_images` setting.
        imgsz: Inference size; default the model's own.
        class_thresholds: Per-class minimum confidences (the model's F1-optimal ones, `ServingModel.class_thresholds`);
            a class's detections are kept at or above the higher of `conf` and its own threshold.

    Returns:
        The outcome, with the logged prediction's id.

    Raises:
        BadInputError: The picture cannot be used (not an image, corrupt, truncated, too large, too many pixels)
            or conf/iou are outside 0..1. Nothing is written in that case.
    """
    start = time.perf_counter()
    with shadow_queue().user_request():  # no shadow work starts while an end user waits
        conf, iou = resolve_thresholds(conf, iou)
        picture = load_image(data, name=name)  # a bad picture stops here, before anything is written
        answer = predict_picture(
            detector, picture, model=model, conf=conf, iou=iou, class_thresholds=class_thresholds, imgsz=imgsz
        )
        annotated = draw_detections(picture.image, answer.detections, labels=[item_words(d) for d in answer.detections])
        every = (*answer.detections, *answer.less_certain)
        annotated_all = draw_detections(picture.image, every, labels=[item_words(d) for d in every])
        logged = log_prediction(answer, source=source, image_name=name, store_images=store_images)
        if answer.embedding is not None:  # the Monitor and active learning read it back instead of running the model
            with contextlib.suppress(OSError):
                EmbeddingCache(detector.embedding_key).put(picture.sha256, answer.embedding)
    if shadow_model() is not None:  # after the answer is logged; the shadow runs on its own thread
        schedule_shadow(answer, logged.prediction_id, resolve=shadow_detector)
    return DetectOutcome(
        prediction_id=logged.prediction_id,
        image_name=name,
        sha256=picture.sha256,
        original=picture.image,
        annotated=annotated,
        detections=list(answer.detections),
        latency_ms=answer.latency_ms,
        total_ms=round((time.perf_counter() - start) * 1000.0, 2),
        features=dict(answer.features),
        notes=list(picture.notes),
        image_path=logged.image_path,
        thumb_path=logged.thumb_path,
        model_label=model.label,
        less_certain=list(answer.less_certain),
        annotated_all=annotated_all if answer.less_certain else None,
        calibrated=answer.calibrated,
        familiar=answer.familiar,
        familiarity=answer.familiarity,
    )


def best_per_class(outcomes: Iterable[DetectOutcome], *, less_certain: bool = False) -> dict[str, float]:
    """Highest calibrated probability per class over the items shown on several pictures (what the recipe ranking
    takes): nothing from an unfamiliar picture, the less certain items only when they are shown.

    Args:
        outcomes: Detection outcomes, e.g. every picture of one upload.
        less_certain: Whether the less certain items are shown too.

    Returns:
        {class name: best probability}, classes in order of first appearance.
    """
    best: dict[str, float] = {}
    for outcome in outcomes:
        for det in outcome.items(less_certain=less_certain):
            best[det.class_name] = max(best.get(det.class_name, 0.0), probability_of(det))
    return best


# --------------------------------------------------------------------------------------------------- feedback


def record_feedback(
    prediction_id: int,
    kind: str,
    *,
    actor: Actor,
    class_name: str = "",
    detection_index: int | None = None,
    correct_class: str | None = None,
    note: str = "",
) -> Feedback:
    """Store an end user's feedback on one prediction; "wrong" and "missed" also enter the review queue.

    Args:
        prediction_id: The logged prediction (from `DetectOutcome.prediction_id`).
        kind: "correct" (this detection is right), "wrong" (it is another item: give `correct_class`) or "missed"
            (the detector did not see an item: give its class as `class_name`). Class names are the model's own
            (`Detector.names`), so a model trained on other classes than the demo vocabulary works too.
        class_name: The detected class ("correct", "wrong") or the missed item's class ("missed").
        detection_index: Index of the detection in the prediction (for "correct" and "wrong").
        correct_class: The right class for "wrong".
        note: Free text.
        actor: The acting user (the Detect page's visitor; every role may send feedback).

    Returns:
        The stored feedback.

    Raises:
        BadInputError: An unknown kind, a missing class, or a "wrong" whose right class is the same.
        NotFoundError: The prediction does not exist.
    """
    authorize(actor, Permission.FEEDBACK, f"prediction {prediction_id}")
    if kind not in FEEDBACK_KINDS:
        raise BadInputError(f"Feedback must be one of {', '.join(FEEDBACK_KINDS)} (got {cap_message(kind, 40)!r}).")
    if not class_name:
        raise BadInputError("Say which item the feedback is about.")
    if kind == FeedbackKind.WRONG:
        if not correct_class:
            raise BadInputError(f"Choose what the item marked '{class_name}' really is.")
        if correct_class == class_name:
            raise BadInputError(f"'{class_name}' is what the detector said; pick the item it really is.")
    if len(class_name) > _MAX_CLASS_NAME or len(correct_class or "") > _MAX_CLASS_NAME:
        raise BadInputError(f"Item names are at most {_MAX_CLASS_NAME} characters.")
    with session_scope() as session:
        return prediction_store.add_feedback(
            session=session,
            prediction_id=prediction_id,
            kind=kind,
            class_name=class_name,
            detection_index=detection_index,
            correct_class=correct_class if kind == FeedbackKind.WRONG else None,
            note=note,
        )
