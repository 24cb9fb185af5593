"""Drift reports for the console: reference from the serving model's training version, current from the prediction log.

`build_drift_report` is the job body (on demand from the Monitor page, or automatic every `monitor.auto_report_every`
new predictions). Each report is kept three ways: `report.html` + `snapshot.json` in the workspace
(`reports/drift/<stamp>/`), a store row with the headline figures and every feature's verdict, and a run in the local
Evidently workspace (`<home>/evidently`, project "PlateOps drift"), so `evidently ui --workspace <home>/evidently`
shows the same history.

The reference is computed once per (dataset version, model weights) and kept as a parquet file in the cache folder:
the image features of a seeded sample of the version's images plus the serving model's predictions on them, so the
prediction columns compare the model with itself on training-like pictures.
"""

from __future__ import annotations

import hashlib
import logging
import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from backend.core.clock import utcnow
from backend.core.enums import DriftTrigger
from backend.core.errors import BadInputError, NotFoundError
from backend.core.params import MonitorParams, get_params
from backend.core.progress import ProgressFn, null_progress, sub_progress
from backend.core.settings import get_settings
from backend.monitoring.labelfree import LabelFree, label_free
from backend.monitoring.reports import BuiltReport, build_report, write_report
from backend.monitoring.tables import frame_from_images, frame_from_predictions, list_images
from backend.serving.service import ServingModel, load_detector, serving_model
from backend.store import datasets as dataset_store
from backend.store import drift as drift_store
from backend.store import registered_models as registry_store
from backend.store import runs as run_store
from backend.store.engine import session_scope
from backend.store.records import DatasetVersion, DriftReport, Prediction

logger = logging.getLogger(__name__)

EVIDENTLY_PROJECT = "PlateOps drift"
REFERENCE_SEED = 0


def evidently_dir() -> Path:
    """The local Evidently workspace (`evidently ui --workspace <this>`)."""
    return get_settings().home / "evidently"


# --------------------------------------------------------------------------------------------------- the report


def build_drift_report(
    *,
    window: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    trigger: DriftTrigger = DriftTrigger.MANUAL,
    progress: ProgressFn = null_progress,
) -> DriftReport:
    """Build, keep and record a drift report of the serving model's latest predictions against its training data.

    Args:
        window: How many of the latest predictions (default `monitor.window`).
        since: Only predictions logged at or after this time.
        until: Only predictions logged before this time.
        trigger: Who asked (stored with the row).
        progress: Receives (fraction, message).

    Returns:
        The stored report row.

    Raises:
        NotFoundError: No model serves, or its training dataset version is gone.
        BadInputError: Too few predictions in the window, or a model without a recorded training version.
    """
    params = get_params().monitor
    model = serving_model()
    if model is None:
        raise NotFoundError("No model serves yet, so there is nothing to monitor: train one on the Train page.")
    version = training_version(model)
    with session_scope() as session:
        predictions = drift_store.latest_predictions(
            session=session, limit=int(window or params.window), model_label=model.log_label, since=since, until=until
        )
    if len(predictions) < params.min_window:
        raise BadInputError(
            f"Only {len(predictions)} predictions of {model.label} are logged in the window; a drift report needs "
            f"{params.min_window}. Detect more pictures (or simulate traffic) first."
        )
    progress(0.05, f"Reference: training version {version.label}")
    reference = reference_frame(version, model, params=params, progress=sub_progress(progress, 0.05, 0.65))
    current = frame_from_predictions(predictions)
    progress(0.7, f"Comparing {len(current)} predictions with {len(reference)} training images")
    built = build_report(reference, current, params)
    out_dir = get_settings().reports_dir / "drift" / f"{utcnow():%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    paths = write_report(built, out_dir)
    progress(0.9, "Adding the run to the Evidently workspace")
    _add_to_evidently_workspace(built, name=f"{trigger} report {out_dir.name}")
    progress(0.75, "Estimating accuracy and testing the embeddings")
    built.label_free = _window_label_free(model, version, predictions, params=params, progress=progress)
    details = built.result.details()
    if built.label_free is not None:
        details.update(built.label_free.details())
        details["promotion_map50"] = _promotion_map50(model)
    details["model_label"] = model.label
    details["window"] = int(window or params.window)
    details["prediction_ids"] = [int(v) for v in current["prediction_id"]]
    with session_scope() as session:
        report = drift_store.add_drift_report(
            session=session,
            reference_version_id=version.id,
            model_id=model.model_id,
            window_start=predictions[0].created_at,
            window_end=predictions[-1].created_at,
            n_reference=len(reference),
            n_current=len(current),
            drift_share=built.result.share,
            drifted=built.result.drift_detected,
            details=details,
            html_path=str(paths["html"].resolve()),
            snapshot_path=str(paths["snapshot"].resolve()),
            trigger=trigger,
            last_prediction_id=predictions[-1].id,
        )
    progress(1.0, built.result.summary_line())
    return report


def _window_label_free(
    model: ServingModel,
    version: DatasetVersion,
    predictions: list[Prediction],
    *,
    params: MonitorParams,
    progress: ProgressFn,
) -> LabelFree | None:
    """The window's estimated mAP50 and embedding test, from the logged pictures that are still on disk (None
    when fewer than `min_window` are: a figure on a handful of pictures would mislead)."""
    paths = [Path(p.image_path) for p in predictions if p.image_path and Path(p.image_path).is_file()]
    if len(paths) < params.min_window:
        return None
    reference = reference_images(
        Path(version.path), limit=params.reference_images, min_images=params.reference_held_out_min
    )
    return label_free(
        load_detector(model),
        weights=Path(model.weights),
        reference_dir=Path(version.path),
        reference_paths=reference,
        current_paths=paths,
        permutations=params.embedding_permutations,
        alpha=params.embedding_alpha,
        progress=sub_progress(progress, 0.75, 0.88),
    )


def _promotion_map50(model: ServingModel) -> float | None:
    """The serving model's mAP50 as recorded when it was registered (None when not measured)."""
    if model.model_id is None:
        return None
    with session_scope() as session:
        return registry_store.get_model(session=session, model_id=model.model_id).scores.map50


def training_version(model: ServingModel) -> DatasetVersion:
    """The dataset version the serving model was trained on (the reference of its drift and outlier checks).

    Raises:
        BadInputError: The model has no training run on record, or its run does not record the version.
    """
    if model.run_id is None:
        raise BadInputError(f"{model.label} has no training run on record, so there is no reference to compare with.")
    with session_scope() as session:
        run = run_store.get_run(session=session, run_id=model.run_id)
        if run.dataset_version_id is None:
            raise BadInputError(
                f"The run behind {model.label} does not record its dataset version, so there is no reference."
            )
        return dataset_store.get_version(session=session, version_id=run.dataset_version_id)


def reference_frame(
    version: DatasetVersion, model: ServingModel, *, params: MonitorParams, progress: ProgressFn = null_progress
) -> pd.DataFrame:
    """The reference table of a dataset version under a model: computed once, then read from the cache.

    Args:
        version: The training dataset version (its `images/` folder is measured).
        model: The model whose predictions form the prediction columns (its weights' path and time key the cache).
        params: `reference_images` (sample size) and `conf`.
        progress: Receives (fraction, message) while measuring.

    Raises:
        NotFoundError: The version's images are gone.
    """
    sample = f"{params.reference_images}:{params.reference_held_out_min}:{get_params().detect.conf}"
    key = hashlib.sha256(f"{model.weights}:{model.mtime_ns}:{sample}".encode()).hexdigest()
    cache = get_settings().cache_dir / "monitoring" / f"reference-v{version.id}-{key[:12]}.parquet"
    if cache.is_file():
        return pd.read_parquet(cache)
    images = reference_images(
        Path(version.path), limit=params.reference_images, min_images=params.reference_held_out_min
    )
    if not images:
        raise NotFoundError(f"Dataset version {version.label} has no images at {version.path}.")
    frame = frame_from_images(images, load_detector(model), conf=get_params().detect.conf, progress=progress)
    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".part")
    frame.to_parquet(tmp, index=False)
    tmp.replace(cache)
    return frame


def reference_images(dataset_dir: Path, *, limit: int, seed: int = REFERENCE_SEED, min_images: int = 0) -> list[Path]:
    """A seeded sample of at most `limit` images of a prepared dataset.

    The held-out split (`images/val`) is preferred when it has at least `min_images` pictures: the model never
    learnt from them, so its confidence there is what it shows on new pictures (on its own training pictures it is
    more confident, which would read as prediction drift). Otherwise all of `images/`, else the folder itself: a
    small held-out split makes a noisy reference (measured in bench/drift.py: the 80 held-out pictures of the
    400-image demo set flagged the predicted-class share in 16 of 20 windows of unshifted traffic; all 400, in none).
    """
    root = dataset_dir / "images" if (dataset_dir / "images").is_dir() else dataset_dir
    held_out = list_images(root / "val") if (root / "val").is_dir() else []
    images = held_out if min_images and len(held_out) >= min_images else list_images(root)
    if len(images) <= limit:
        return images
    keep = np.random.default_rng(seed).choice(len(images), size=limit, replace=False)
    return [images[i] for i in sorted(keep)]


def _add_to_evidently_workspace(built: BuiltReport, *, name: str) -> None:
    """Add the snapshot to the local Evidently workspace project (created on first use).

    The snapshot is written the way `Workspace.add_run` writes it (`LocalState.write_snapshot`), without opening a
    `Workspace` for each report: opening one reads every stored snapshot, which grows with the history.
    """
    try:
        from evidently.ui.storage.local.base import LocalState
        from evidently.ui.workspace import Workspace

        path = str(evidently_dir())
        state = LocalState(path)
        project_id = _evidently_project_id(state) if Path(path).is_dir() else None
        if project_id is None:
            project_id = (
                Workspace.create(path)
                .create_project(
                    EVIDENTLY_PROJECT, description="Image-property and prediction drift of the PlateOps serving model"
                )
                .id
            )
        built.snapshot.set_name(name)
        state.write_snapshot(project_id, uuid.uuid4(), built.snapshot.to_snapshot_model())
    except Exception:  # an optional mirror for `evidently ui`: the report itself is already kept
        logger.warning("could not add the drift report to the Evidently workspace", exc_info=True)


def _evidently_project_id(state: Any) -> Any:
    """The id of our project in a local Evidently workspace, or None."""
    for project_id in state.list_projects():
        if state.read_project(project_id).name == EVIDENTLY_PROJECT:
            return project_id
    return None


def drift_between_folders(
    reference_dir: Path,
    current_dir: Path,
    *,
    weights: Path,
    out_dir: Path,
    params: MonitorParams | None = None,
    progress: ProgressFn = null_progress,
) -> BuiltReport:
    """The Monitor page's report for a folder of new images against a prepared dataset (`jobs.drift`).

    Args:
        reference_dir: A prepared dataset (its `images/` folder is sampled) or any folder of images.
        current_dir: The new images.
        weights: Model weights (`.pt` or `.onnx`) whose predictions form the prediction columns.
        out_dir: Where `report.html`, `snapshot.json` and `summary.json` go.
        params: Thresholds; default the `monitor` section of `params.yaml`.
        progress: Receives (fraction, message).

    Returns:
        The report (files written).

    Raises:
        BadInputError: A folder is missing or holds too few images, or the weights are not a model.
        NotFoundError: The weights file does not exist.
    """
    from backend.serving.inference import Detector
    from backend.serving.service import default_device

    params = params or get_params().monitor
    for label, folder in (("reference dataset", reference_dir), ("current images folder", current_dir)):
        if not Path(folder).is_dir():
            raise BadInputError(f"The {label} {folder} is not a folder.")
    ref_images = reference_images(
        Path(reference_dir), limit=params.reference_images, min_images=params.reference_held_out_min
    )
    cur_images = list_images(Path(current_dir))
    for label, found, folder in (("reference", ref_images, reference_dir), ("current", cur_images, current_dir)):
        if len(found) < params.min_window:
            raise BadInputError(
                f"The {label} folder {folder} holds {len(found)} images; a drift report needs at least "
                f"{params.min_window}."
            )
    detector = Detector.load(Path(weights), device=default_device())
    conf = get_params().detect.conf
    reference = frame_from_images(ref_images, detector, conf=conf, progress=sub_progress(progress, 0.0, 0.3))
    current = frame_from_images(cur_images, detector, conf=conf, progress=sub_progress(progress, 0.3, 0.45))
    built = build_report(reference, current, params)
    built.label_free = label_free(
        detector,
        weights=Path(weights),
        reference_dir=Path(reference_dir),
        reference_paths=ref_images,
        current_paths=cur_images,
        permutations=params.embedding_permutations,
        alpha=params.embedding_alpha,
        progress=sub_progress(progress, 0.45, 0.95),
    )
    write_report(built, Path(out_dir))
    progress(1.0, built.result.summary_line())
    return built
