"""What the Monitor page shows: the latest report, history, class share over time, error rates, drill-down.

Pages call these and render; nothing here imports streamlit. Drill-down works on the latest report's window: pick a
feature and a side of a cut (say brightness below 80), see those production pictures, and send them to the review
queue that Annotate reads (source `drift`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

import pandas as pd

from backend.core.access import Actor, Permission
from backend.core.enums import FeedbackKind, ReviewSource, ReviewStatus
from backend.core.errors import BadInputError
from backend.core.stats import MIN_RATE_TRIALS, CountRate, count_rate
from backend.monitoring.reports import NOT_TESTED, P_VALUE_METHODS
from backend.monitoring.tables import NUMERIC_COLUMNS, frame_from_predictions
from backend.store import drift as drift_store
from backend.store import predictions as prediction_store
from backend.store import review as review_store
from backend.store.audit import authorize
from backend.store.engine import session_scope
from backend.store.records import DriftReport

Side = Literal["below", "above", "is"]
MAX_STRENGTH = 50.0


@dataclass(frozen=True)
class Segment:
    """A drill-down cut on the latest window: `feature` below/above `value`, or `pred_class` is `label`."""

    feature: str
    side: Side
    value: float | str

    def describe(self) -> str:
        """E.g. "brightness below 80.0"."""
        shown = f"{self.value:.4g}" if isinstance(self.value, float) else str(self.value)
        return f"{self.feature} {self.side} {shown}"


@dataclass(frozen=True)
class SegmentImage:
    """One production picture in a drill-down gallery."""

    prediction_id: int
    image_name: str
    thumb_path: str | None
    image_path: str | None
    value: float | str
    created_at: datetime


def drifted_features(report: DriftReport) -> list[str]:
    """Names of the drifted features of a stored report."""
    return [f["name"] for f in report.details.get("features", []) if f.get("drifted")]


def latest_report() -> DriftReport | None:
    """The newest stored report."""
    with session_scope() as session:
        return drift_store.latest_drift_report(session=session)


def report_history(limit: int = 200) -> list[DriftReport]:
    """Stored reports, oldest first (for charts)."""
    with session_scope() as session:
        return list(reversed(drift_store.list_drift_reports(session=session, limit=limit)))


def strength(score: float, method: str) -> float:
    """A feature's drift strength for charts: -log10(p) for p-value tests (capped at 50), else the distance."""
    if method == NOT_TESTED or score is None or (isinstance(score, float) and math.isnan(score)):
        return math.nan
    if method in P_VALUE_METHODS:
        return min(MAX_STRENGTH, -math.log10(max(float(score), 10.0**-MAX_STRENGTH)))
    return float(score)


def history_frame(reports: list[DriftReport]) -> pd.DataFrame:
    """One row per report: time, drifted share, alarm, and each feature's drift strength."""
    rows = []
    for report in reports:
        row: dict[str, object] = {
            "report": report.id,
            "time": report.created_at,
            "drifted share": round(report.drift_share, 4),
            "alarm": report.drifted,
            "trigger": report.trigger,
        }
        for f in report.details.get("features", []):
            row[f["name"]] = strength(f.get("score", math.nan), f.get("method", NOT_TESTED))
        rows.append(row)
    return pd.DataFrame(rows)


def feature_table(report: DriftReport) -> pd.DataFrame:
    """The report's features as a table: verdict, test, score, medians."""
    rows = [
        {
            "feature": f["name"],
            "kind": f.get("kind", ""),
            "drifted": bool(f.get("drifted")),
            "test": f.get("method", ""),
            "score": f.get("score"),
            "threshold": f.get("threshold"),
            "reference median": f.get("reference_median"),
            "current median": f.get("current_median"),
        }
        for f in report.details.get("features", [])
    ]
    return pd.DataFrame(rows)


def class_share_over_time(*, freq: str = "h", limit: int = 20_000) -> pd.DataFrame:
    """Share of each detected class among all boxes per time bucket (rows: bucket start; columns: classes).

    The frame's `attrs` say what it rests on: `boxes` (detections counted) and `pictures` (logged predictions read,
    at most `limit`, newest first)."""
    with session_scope() as session:
        log = drift_store.prediction_class_log(session=session, limit=limit)
    rows = [(created, str(d.get("class", ""))) for created, dets in log for d in dets]
    if not rows:
        return pd.DataFrame()
    frame = pd.DataFrame(rows, columns=["time", "class"])
    frame["time"] = pd.to_datetime(frame["time"]).dt.floor(freq)
    counts = frame.groupby(["time", "class"]).size().unstack(fill_value=0)
    shares = counts.div(counts.sum(axis=1), axis=0).round(4)
    shares.attrs.update(boxes=len(rows), pictures=len(log))
    return shares


@dataclass(frozen=True)
class ClassErrorRate:
    """End-user feedback on one class and its error rate: (wrong + missed) of all feedback on it.

    Attributes:
        name: The class.
        correct: Feedback that said a detection of it was right.
        wrong: Feedback that said a detection of it was wrong.
        missed: Feedback that said one was missed.
        rate: (wrong + missed) of all, with its Wilson interval; stated only from `MIN_RATE_TRIALS` feedback on.
    """

    name: str
    correct: int
    wrong: int
    missed: int
    rate: CountRate

    @property
    def feedback(self) -> int:
        """All feedback on the class."""
        return self.correct + self.wrong + self.missed


def error_rates(*, minimum: int = MIN_RATE_TRIALS) -> list[ClassErrorRate]:
    """Per-class error rate from end-user feedback, by class name, each with its count and Wilson 95 % interval.

    Args:
        minimum: Fewest feedback a class's rate is stated on; under it the rate reads "too few to tell".
    """
    with session_scope() as session:
        counts = prediction_store.feedback_counts(session=session)
    rows = []
    for name, c in sorted(counts.items()):
        correct, wrong, missed = (
            c.get(kind, 0) for kind in (FeedbackKind.CORRECT, FeedbackKind.WRONG, FeedbackKind.MISSED)
        )
        rate = count_rate(wrong + missed, correct + wrong + missed, minimum=minimum)
        rows.append(ClassErrorRate(name=name, correct=correct, wrong=wrong, missed=missed, rate=rate))
    return rows


def suggest_segment(report: DriftReport, feature: str) -> Segment:
    """A cut that isolates the drifted side of a feature: halfway between the reference and current medians.

    For `pred_class` the suggestion is the class whose share grew most.
    """
    if feature == "pred_class":
        shares = report.details.get("class_share", {})
        ref, cur = shares.get("reference", {}), shares.get("current", {})
        grown = max(cur, key=lambda k: cur[k] - ref.get(k, 0.0), default="")
        return Segment("pred_class", "is", grown)
    info = next((f for f in report.details.get("features", []) if f["name"] == feature), None)
    if info is None or info.get("reference_median") is None or info.get("current_median") is None:
        raise BadInputError(f"The report has no figures for {feature!r}.")
    ref, cur = float(info["reference_median"]), float(info["current_median"])
    return Segment(feature, "below" if cur < ref else "above", round((ref + cur) / 2.0, 4))


def segment_images(report: DriftReport, segment: Segment, *, limit: int = 60) -> list[SegmentImage]:
    """The pictures of the report's window inside a segment, most extreme first.

    Raises:
        BadInputError: An unknown feature, or a side that does not fit it.
    """
    if segment.feature not in (*NUMERIC_COLUMNS, "pred_class"):
        raise BadInputError(f"Unknown feature {segment.feature!r}.")
    ids = [int(i) for i in report.details.get("prediction_ids", [])]
    with session_scope() as session:
        predictions = drift_store.predictions_by_ids(session=session, prediction_ids=ids)
    frame = frame_from_predictions(predictions)
    by_id = {p.id: p for p in predictions}
    if segment.feature == "pred_class":
        chosen = frame[frame["pred_class"] == str(segment.value)]
    else:
        if segment.side not in ("below", "above"):
            raise BadInputError("A numeric feature is cut 'below' or 'above' a value.")
        values = frame[segment.feature]
        mask = values < float(segment.value) if segment.side == "below" else values > float(segment.value)
        chosen = frame[mask].sort_values(segment.feature, ascending=segment.side == "below")
    out = []
    for _, row in chosen.head(limit).iterrows():
        p = by_id[int(row["prediction_id"])]
        value = row[segment.feature]
        out.append(
            SegmentImage(
                prediction_id=p.id,
                image_name=p.image_name,
                thumb_path=p.thumb_path,
                image_path=p.image_path,
                value=value if isinstance(value, str) else round(float(value), 4),
                created_at=p.created_at,
            )
        )
    return out


def send_to_review(prediction_ids: list[int], *, reason: str, actor: Actor) -> int:
    """Put production pictures on the review queue (source `drift`); pictures already waiting there are skipped.

    Args:
        prediction_ids: The logged predictions whose pictures go on the queue.
        reason: Why, as the reviewer sees it.
        actor: Who asks (needs the review permission).

    Returns:
        How many were added.

    Raises:
        AccessDeniedError: The actor may not review.
    """
    authorize(actor, Permission.REVIEW, f"send {len(prediction_ids)} production pictures to review")
    if not prediction_ids:
        return 0
    with session_scope() as session:
        waiting = {
            item.prediction_id
            for item in review_store.list_review_items(session=session, status=ReviewStatus.OPEN, limit=100_000)
            if item.source == ReviewSource.DRIFT
        }
        predictions = drift_store.predictions_by_ids(session=session, prediction_ids=prediction_ids)
        added = 0
        for p in predictions:
            if p.id in waiting:
                continue
            review_store.add_review_item(
                session=session, source=ReviewSource.DRIFT, reason=reason[:500], file=p.image_name, prediction_id=p.id
            )
            added += 1
    return added


def window_progress() -> tuple[int, int]:
    """(predictions logged since the last report covered, total predictions logged)."""
    with session_scope() as session:
        covered = drift_store.last_covered_prediction_id(session=session)
        return (
            drift_store.count_predictions_after(session=session, prediction_id=covered),
            prediction_store.count_predictions(session=session),
        )


@dataclass(frozen=True)
class AccuracyEstimate:
    """A report's label-free accuracy figures as the Monitor page and Home show them.

    Attributes:
        value: Estimated mAP50 of the window.
        low: Lower end of its interval.
        high: Upper end.
        pictures: Pictures it was estimated on.
        at_promotion: The model's mAP50 when it was registered (None when not recorded).
        calibrated: False when no labelled held-out split calibrated it (the interval is then 0-1).
        alert: The estimate is below `monitor.estimate_alert` of params.yaml.
        embedding_drift: The embedding test alarmed (None when it could not run).
        embedding_p: Its p-value.
    """

    value: float
    low: float
    high: float
    pictures: int
    at_promotion: float | None
    calibrated: bool
    alert: bool
    embedding_drift: bool | None
    embedding_p: float | None

    def sentence(self) -> str:
        """E.g. "estimated 0.48 (0.42–0.53) on the last 200 pictures, 0.56 at promotion"."""
        text = f"estimated {self.value:.2f} ({self.low:.2f}–{self.high:.2f}) on the last {self.pictures} pictures"
        if self.at_promotion is not None:
            text += f", {self.at_promotion:.2f} at promotion"
        return text if self.calibrated else text + " (uncalibrated: no labelled held-out split)"


def accuracy_estimate(report: DriftReport, *, alert_below: float | None = None) -> AccuracyEstimate | None:
    """The report's estimated mAP50 and embedding test (None for a report built before they were computed).

    Args:
        report: A stored drift report.
        alert_below: Alert threshold; default `monitor.estimate_alert` of params.yaml.
    """
    from backend.core.params import get_params

    estimate = report.details.get("estimate")
    if not estimate:
        return None
    threshold = get_params().monitor.estimate_alert if alert_below is None else alert_below
    embedding = report.details.get("embedding_drift") or {}
    promotion = report.details.get("promotion_map50")
    calibrated = estimate.get("method") != "uncalibrated"
    return AccuracyEstimate(
        value=float(estimate["value"]),
        low=float(estimate["low"]),
        high=float(estimate["high"]),
        pictures=int(estimate["pictures"]),
        at_promotion=float(promotion) if promotion is not None else None,
        calibrated=calibrated,
        # an uncalibrated estimate (interval 0-1) cannot say the model got worse: no alert from it
        alert=calibrated and float(estimate["value"]) < threshold,
        embedding_drift=bool(embedding["drifted"]) if embedding else None,
        embedding_p=float(embedding["p_value"]) if embedding else None,
    )
