"""Evidently drift reports: one `DataDriftPreset` over the image and prediction columns, its tests as alerts.

A feature drifts when its stat test says so at the threshold in `params.yaml` (`monitor`); the report alarms when the
share of drifted features reaches `monitor.drift_share`. Evidently's own tests carry the same verdicts (one per
feature plus the drifted-share test), so `evidently ui` over the local workspace shows the alerts the console does.
Everything runs offline: the saved HTML embeds its scripts and loads nothing.
"""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from backend.core.errors import BadInputError
from backend.core.params import MonitorParams
from backend.monitoring.tables import ALL_COLUMNS, NUMERIC_COLUMNS, PREDICTION_CATEGORICAL

REPORT_HTML = "report.html"
SNAPSHOT_JSON = "snapshot.json"
SUMMARY_JSON = "summary.json"
NOT_TESTED = "not tested"
P_VALUE_METHODS = frozenset(
    {"ks", "chisquare", "z", "anderson", "cramer_von_mises", "mannw", "t_test", "g_test", "fisher_exact"}
)


@dataclass(frozen=True)
class FeatureDrift:
    """One feature's verdict.

    Attributes:
        name: Column name.
        kind: "image" or "prediction".
        method: The stat test.
        score: Its value (a p-value for p-value tests: small means drift; a distance otherwise).
        threshold: The cut-off.
        drifted: The verdict.
        reference_median: Median in the reference (None for the categorical class column).
        current_median: Median in the current window (None for the class column).
    """

    name: str
    kind: str
    method: str
    score: float
    threshold: float
    drifted: bool
    reference_median: float | None = None
    current_median: float | None = None


@dataclass(frozen=True)
class TestOutcome:
    """One Evidently test: its name, "SUCCESS"/"FAIL"/"WARNING"/"ERROR", and its description."""

    name: str
    status: str
    description: str


@dataclass(frozen=True)
class DriftResult:
    """What one report found.

    Attributes:
        drift_detected: The alarm: the drifted share reached the threshold.
        share: Share of the tested features that drifted.
        drift_share_threshold: The threshold the share is compared with.
        features: Every feature's verdict, tested ones first ("not tested" when a side has no values).
        tests: Evidently's test outcomes.
        reference_images: Rows in the reference.
        current_images: Rows in the current window.
        class_share: {"reference": {class: share}, "current": {class: share}} of the predicted class column.
    """

    drift_detected: bool
    share: float
    drift_share_threshold: float
    features: list[FeatureDrift]
    tests: list[TestOutcome]
    reference_images: int
    current_images: int
    class_share: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def drifted_features(self) -> list[str]:
        """Names of the drifted features."""
        return [f.name for f in self.features if f.drifted]

    @property
    def tested_features(self) -> list[str]:
        """Names of the features that were tested (both sides had values)."""
        return [f.name for f in self.features if f.method != NOT_TESTED]

    def summary(self) -> dict[str, Any]:
        """The `summary.json` contract of `jobs.drift` (plus nothing else)."""
        return {
            "drift_detected": self.drift_detected,
            "drifted_features": self.drifted_features,
            "share": round(self.share, 4),
            "reference_images": self.reference_images,
            "current_images": self.current_images,
        }

    def details(self) -> dict[str, Any]:
        """Everything the store keeps for the Monitor page (features, tests, class shares)."""
        return {
            "features": [asdict(f) for f in self.features],
            "tests": [asdict(t) for t in self.tests],
            "drift_share_threshold": self.drift_share_threshold,
            "class_share": self.class_share,
        }

    def summary_line(self) -> str:
        """One human line."""
        if self.drift_detected:
            return (
                f"Drift: {len(self.drifted_features)} of {len(self.tested_features)} features drifted "
                f"({', '.join(self.drifted_features)}); {self.current_images} images vs {self.reference_images}"
            )
        extra = f" (drifted below the alarm share: {', '.join(self.drifted_features)})" if self.drifted_features else ""
        return f"No drift alarm: {self.current_images} images vs {self.reference_images} reference{extra}"


@dataclass
class BuiltReport:
    """An Evidently snapshot and our reading of it, and (when computed) the label-free accuracy estimate and the
    embedding test (`backend.monitoring.labelfree.LabelFree`), whose keys join `summary.json`."""

    snapshot: Any
    result: DriftResult
    label_free: Any = None


def feature_kind(name: str) -> str:
    """ "image" for image properties, "prediction" for what the model said."""
    return "prediction" if name in ("pred_class", "confidence", "boxes", "box_area") else "image"


def build_report(reference: pd.DataFrame, current: pd.DataFrame, params: MonitorParams) -> BuiltReport:
    """Run Evidently's data drift preset (with tests) on the monitored columns.

    Args:
        reference: Reference table (see `backend.monitoring.tables`).
        current: Current table, same columns.
        params: Thresholds and tests from `params.yaml`.

    Returns:
        The snapshot and our summary of it.

    Raises:
        BadInputError: Either side has fewer rows than `params.min_window` (the reference also needs that many).
    """
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    for side, frame in (("reference", reference), ("current window", current)):
        if len(frame) < params.min_window:
            raise BadInputError(
                f"The {side} has {len(frame)} images; a drift report needs at least {params.min_window}."
            )
    # A column with no values on one side (no detections at all, so no confidence) has nothing to test.
    columns = [name for name in ALL_COLUMNS if reference[name].notna().any() and current[name].notna().any()]
    untested = [name for name in ALL_COLUMNS if name not in columns]
    definition = DataDefinition(
        numerical_columns=[c for c in columns if c in NUMERIC_COLUMNS],
        categorical_columns=[c for c in columns if c in PREDICTION_CATEGORICAL],
    )
    ref = Dataset.from_pandas(reference[columns].reset_index(drop=True), data_definition=definition)
    cur = Dataset.from_pandas(current[columns].reset_index(drop=True), data_definition=definition)
    methods = {name: _method(name, params) for name in columns}
    thresholds = {name: _threshold(name, params) for name in columns}
    preset = DataDriftPreset(
        columns=columns,
        drift_share=params.drift_share,
        per_column_method=dict(methods),
        per_column_threshold=dict(thresholds),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # Evidently divides by zero counting infinities of NaN columns
        snapshot = Report([preset], include_tests=True).run(current_data=cur, reference_data=ref)
    data = snapshot.dict()
    scores = _scores(data)
    features = [
        FeatureDrift(
            name=name,
            kind=feature_kind(name),
            method=methods[name],
            score=scores.get(name, math.nan),
            threshold=thresholds[name],
            drifted=_drifted(scores.get(name, math.nan), methods[name], thresholds[name]),
            reference_median=_median(reference, name),
            current_median=_median(current, name),
        )
        for name in columns
    ]
    features += [
        FeatureDrift(
            name=name, kind=feature_kind(name), method=NOT_TESTED, score=math.nan, threshold=0.0, drifted=False
        )
        for name in untested
    ]
    share = sum(f.drifted for f in features) / max(1, len(columns))
    tests = [
        TestOutcome(
            name=str(t.get("name", "")),
            status=_status_text(t.get("status", "")),
            description=str(t.get("description", "")),
        )
        for t in data.get("tests", [])
    ]
    result = DriftResult(
        drift_detected=share >= params.drift_share,
        share=share,
        drift_share_threshold=params.drift_share,
        features=features,
        tests=tests,
        reference_images=len(reference),
        current_images=len(current),
        class_share={"reference": _shares(reference), "current": _shares(current)},
    )
    return BuiltReport(snapshot=snapshot, result=result)


def write_report(built: BuiltReport, out_dir: Path) -> dict[str, Path]:
    """Write `report.html`, `snapshot.json` and `summary.json` into `out_dir` (created if missing).

    Returns:
        {"html": path, "snapshot": path, "summary": path}.
    """
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"html": out_dir / REPORT_HTML, "snapshot": out_dir / SNAPSHOT_JSON, "summary": out_dir / SUMMARY_JSON}
    built.snapshot.save_html(str(paths["html"]))
    built.snapshot.save_json(str(paths["snapshot"]))
    summary = built.result.summary()
    if built.label_free is not None:
        summary.update(built.label_free.summary())
    paths["summary"].write_text(json.dumps(summary, indent=2), encoding="utf-8")
    return paths


def _status_text(status: Any) -> str:
    """ "SUCCESS", "FAIL", ... from Evidently's TestStatus enum (or its JSON string)."""
    return str(getattr(status, "value", status)).upper()


def _method(name: str, params: MonitorParams) -> str:
    override = params.features.get(name)
    if override is not None and override.method:
        return override.method
    return params.cat_method if name in PREDICTION_CATEGORICAL else params.num_method


def _threshold(name: str, params: MonitorParams) -> float:
    override = params.features.get(name)
    return override.threshold if override is not None and override.threshold else params.threshold


def _drifted(score: float, method: str, threshold: float) -> bool:
    """Evidently's rule: a p-value below the threshold, or a distance at or above it."""
    if math.isnan(score):
        return False
    return score < threshold if method in P_VALUE_METHODS else score >= threshold


def _scores(data: dict[str, Any]) -> dict[str, float]:
    """Per-column drift scores from the snapshot's ValueDrift metrics."""
    scores: dict[str, float] = {}
    for metric in data.get("metrics", []):
        config = metric.get("config", {})
        if str(config.get("type", "")).endswith("ValueDrift") and "column" in config:
            value = metric.get("value")
            scores[str(config["column"])] = float(value) if isinstance(value, (int, float)) else math.nan
    return scores


def _median(frame: pd.DataFrame, name: str) -> float | None:
    if name in PREDICTION_CATEGORICAL or name not in frame:
        return None
    value = frame[name].median()
    return None if pd.isna(value) else round(float(value), 4)


def _shares(frame: pd.DataFrame) -> dict[str, float]:
    if "pred_class" not in frame or frame.empty:
        return {}
    counts = frame["pred_class"].value_counts(normalize=True)
    return {str(k): round(float(v), 4) for k, v in counts.items()}
