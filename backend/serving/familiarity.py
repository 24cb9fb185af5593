"""The familiarity verdict when serving: is this picture like the pictures the model was trained on?

A picture unlike them (a bus, a cat, a screenshot, for a food detector) gets no detections: whatever the model
would say about it is noise ("egg 0.06"). The decision reads the embedding the model gave in the same call
(`Detector.predict(..., embed=True)`) and the model's reference beside its weights (`<stem>.familiarity.npz`,
fitted when training ended; `backend.training.familiarity`).

A model without a reference (trained before the check existed) gets one fitted on first use from its dataset's
files, when its run folder says which dataset that was (`RUN/args.yaml`), and saved beside the weights. Otherwise,
or for an ONNX export that carries no embedding outputs, every picture stays familiar, and a warning is logged once
per model: the check never refuses a picture it cannot judge.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from backend.core.errors import PlateOpsError
from backend.serving.inference import Detector
from backend.training.embeddings import Embedding
from backend.training.familiarity import FamiliarityModel, reference_path
from backend.training.reference import dataset_of, fit_reference

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Familiarity:
    """The verdict on one picture.

    Attributes:
        familiar: False when the picture is unlike the model's training pictures (then it gets no detections).
        score: The decision score (higher is less familiar); None when the picture was not checked.
        threshold: Scores above it are refused; None when not checked.
        note: Why the picture was not checked ("" when it was).
    """

    familiar: bool
    score: float | None = None
    threshold: float | None = None
    note: str = ""

    @property
    def checked(self) -> bool:
        """Whether a reference judged the picture."""
        return self.score is not None

    def as_features(self) -> dict[str, float | int]:
        """The prediction log's keys, when the picture was checked: `familiar` (1 or 0) and `familiarity` (the
        score). Empty when it was not: an unchecked picture is not evidence either way."""
        if self.score is None:
            return {}
        return {"familiar": int(self.familiar), "familiarity": self.score}


class FamiliarityCheck:
    """The check of one model. Build with `familiarity_check(detector)` (cached per model and reference file)."""

    def __init__(self, model: FamiliarityModel | None, *, note: str = "") -> None:
        self.model = model
        self.note = note

    def judge(self, embedding: Embedding | None) -> Familiarity:
        """The verdict on a picture's embedding; familiar (unchecked) without a reference or an embedding."""
        if self.model is None:
            return Familiarity(familiar=True, note=self.note)
        if embedding is None:
            return Familiarity(familiar=True, note="the model gave no embedding for this picture")
        verdict = self.model.judge(embedding)
        return Familiarity(familiar=verdict.familiar, score=verdict.score, threshold=verdict.threshold)


_CACHE: dict[tuple[str, int, int], FamiliarityCheck] = {}
_CACHE_SIZE = 8  # models a console answers with at once: production, a shadow, a few compared runs
_LOCK = threading.Lock()


def familiarity_check(detector: Detector, *, fit: bool = True) -> FamiliarityCheck:
    """The familiarity check of a loaded model: its reference beside the weights, fitted on first use if missing.

    Args:
        detector: The loaded model.
        fit: Fit a missing reference from the model's dataset (when `RUN/args.yaml` names it) and save it.

    Returns:
        The check; without a usable reference it keeps every picture familiar (and says why in `note`).

    A first-use fit runs under this function's lock: other requests wait for it (about 30 ms a picture of the
    dataset's sample), then every later call is a dictionary look-up.
    """
    path = reference_path(detector.source)
    key = (str(detector.source), _mtime_ns(detector.source), _mtime_ns(path))
    with _LOCK:
        if key not in _CACHE:
            while len(_CACHE) >= _CACHE_SIZE:
                del _CACHE[next(iter(_CACHE))]  # the oldest entry (dicts keep insertion order)
            _CACHE[key] = _build_check(detector, path, fit=fit)
        return _CACHE[key]


def _mtime_ns(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def _build_check(detector: Detector, path: Path, *, fit: bool) -> FamiliarityCheck:
    """Load (or fit and save) the reference of `detector`; a check that keeps everything familiar when it cannot."""
    name = detector.source.name
    if not detector.embeds:
        return _unchecked(f"{name} carries no embedding outputs (exported before the familiarity check); export again")
    if path.is_file():
        try:
            model = FamiliarityModel.load(path)
        except PlateOpsError as exc:
            return _unchecked(str(exc))
        size = model.meta.get("imgsz")
        if size is None or int(size) == detector.imgsz:
            return FamiliarityCheck(model)
        if not fit:
            return _unchecked(f"{path.name} was fitted at imgsz {size}, but {name} runs at {detector.imgsz}")
    data_yaml = dataset_of(detector.source) if fit else None
    if data_yaml is None:
        return _unchecked(f"{name} has no familiarity reference and its training dataset is unknown")
    logger.warning("Fitting the familiarity reference of %s from %s (first use)", name, data_yaml)
    try:
        model = fit_reference(detector.embed, data_yaml, info={"imgsz": detector.imgsz, "weights": name})
    except PlateOpsError as exc:
        return _unchecked(f"the familiarity reference of {name} could not be fitted ({exc})")
    try:
        model.save(path)
    except OSError as exc:  # a read-only model folder: the reference lives in memory for this process
        logger.warning("The familiarity reference of %s could not be saved (%s); using it unsaved", name, exc)
    return FamiliarityCheck(model)


def _unchecked(note: str) -> FamiliarityCheck:
    logger.warning("Familiarity check off: %s; every picture counts as familiar", note)
    return FamiliarityCheck(None, note=note)
