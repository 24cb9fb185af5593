"""Plain dataclasses the store hands out. ORM rows never leave `backend.store`."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from backend.core.enums import ACTIVE_JOB_STATUSES
from backend.store.summaries import (
    EpochRow,
    JobOutcome,
    Scores,
    Tracking,
    TrainingFacts,
    ValidationSummary,
    VersionCounts,
    epoch_rows,
)

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

T = TypeVar("T", bound="DataclassInstance")


@dataclass(frozen=True)
class Dataset:
    id: int
    name: str
    source: str
    description: str
    created_at: datetime


@dataclass(frozen=True)
class DatasetVersion:
    id: int
    dataset_id: int
    number: int
    parent_id: int | None
    author: str
    message: str
    path: str
    content_hash: str | None
    stats: dict[str, Any]
    changelog: list[Any]
    validation_status: str
    validation_summary: dict[str, Any]
    created_at: datetime

    @property
    def label(self) -> str:
        return f"v{self.number}"

    @property
    def data_yaml(self) -> str:
        return f"{self.path}/data.yaml"

    @property
    def counts(self) -> VersionCounts:
        """Images in all and per split, from `stats`."""
        return VersionCounts.from_json(self.stats)

    @property
    def validation(self) -> ValidationSummary:
        """What the last validation found, from `validation_summary`."""
        return ValidationSummary.from_json(self.validation_summary)


@dataclass(frozen=True)
class ValidationIssue:
    id: int
    version_id: int
    file: str
    check: str
    severity: str
    message: str


@dataclass(frozen=True)
class Job:
    id: int
    kind: str
    title: str
    params: dict[str, Any]
    status: str
    pid: int | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    heartbeat_at: datetime | None
    cancel_requested_at: datetime | None
    progress: float | None
    message: str
    log_path: str
    result: dict[str, Any] | None
    error: str | None
    live: dict[str, Any] = field(default_factory=dict)
    failure_code: str | None = None  # a FailureCode value when the job failed
    host: str | None = None  # the machine its worker runs on; its pid means something only there
    pid_started: str | None = None  # the worker's start-time token: the pid is ours only while it matches
    progress_at: datetime | None = None  # when the worker last reported progress (the watchdog reads it)

    @property
    def active(self) -> bool:
        return self.status in ACTIVE_JOB_STATUSES

    @property
    def outcome(self) -> JobOutcome:
        """What the job made (a version, a run, a model), from `result`."""
        return JobOutcome.from_json(self.result)

    @property
    def live_epochs(self) -> list[EpochRow]:
        """The epochs a running training job has published so far, from `live`."""
        return epoch_rows((self.live or {}).get("epochs"))

    def elapsed_s(self, now: datetime) -> float | None:
        """Seconds the job has run (until it finished, else until `now`)."""
        if self.started_at is None:
            return None
        return ((self.finished_at or now) - self.started_at).total_seconds()


@dataclass(frozen=True)
class Run:
    id: int
    name: str
    job_id: int | None
    dataset_version_id: int | None
    model: str
    preset: str
    params: dict[str, Any]
    status: str
    run_dir: str
    weights_path: str | None
    metrics: dict[str, Any]
    evaluation: dict[str, Any]
    history: list[Any]
    tracking: dict[str, Any]
    created_at: datetime
    finished_at: datetime | None
    duration_s: float | None
    pretrained_model_id: int | None = None

    @property
    def scores(self) -> Scores:
        """Scores on the validation images, from `evaluation`."""
        return Scores.from_json(self.evaluation)

    @property
    def facts(self) -> TrainingFacts:
        """Epochs completed, device and the trainer's own scores, from `metrics`."""
        return TrainingFacts.from_json(self.metrics)

    @property
    def epochs(self) -> list[EpochRow]:
        """Every finished epoch, from `history`."""
        return epoch_rows(self.history)

    @property
    def tracking_info(self) -> Tracking:
        """Where the run is tracked in ClearML, from `tracking`."""
        return Tracking.from_json(self.tracking)


@dataclass(frozen=True)
class PretrainedModel:
    """An uploaded pretrained checkpoint that runs may start from (a base model).

    Attributes:
        source: Where it came from, as the scientist who uploaded it wrote it.
        class_names: The classes its detection head was trained on.
        uploaded_by: The login name of the uploader.
    """

    id: int
    name: str
    weights_path: str
    weights_sha256: str
    source: str
    original_filename: str
    class_names: list[Any]
    uploaded_by: str
    created_at: datetime


@dataclass(frozen=True)
class RegisteredModel:
    id: int
    run_id: int | None
    name: str
    stage: str
    weights_path: str
    onnx_path: str | None
    metrics: dict[str, Any]
    class_thresholds: dict[str, Any]
    notes: str
    created_at: datetime
    promoted_at: datetime | None
    weights_sha256: str = ""
    onnx_sha256: str = ""

    @property
    def scores(self) -> Scores:
        """Scores recorded when the model was registered, from `metrics`."""
        return Scores.from_json(self.metrics)


@dataclass(frozen=True)
class ModelEvent:
    id: int
    model_id: int | None
    previous_model_id: int | None
    action: str
    actor: str
    reason: str
    figures: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True)
class EvalSet:
    """One version of a task's evaluation set (see `backend.store.eval_sets`)."""

    id: int
    task: str
    number: int
    name: str
    dataset_version_id: int
    split: str
    images: int
    instances: int
    class_names: list[Any]
    class_instances: dict[str, Any]
    action: str
    actor: str
    reason: str
    created_at: datetime

    @property
    def size_text(self) -> str:
        """E.g. "80 images, 412 boxes"."""
        return f"{self.images} images, {self.instances} boxes"

    @property
    def label(self) -> str:
        """E.g. "eval set 'demo-food v1 val' (80 images, 412 boxes)", as figures and reasons name their basis."""
        return f"eval set '{self.name}' ({self.size_text})"


@dataclass(frozen=True)
class Prediction:
    id: int
    model_id: int | None
    model_label: str
    source: str
    image_name: str
    image_sha256: str
    image_path: str | None
    thumb_path: str | None
    features: dict[str, Any]
    detections: list[Any]
    n_detections: int
    latency_ms: float
    conf: float
    iou: float
    created_at: datetime


@dataclass(frozen=True)
class ShadowPrediction:
    id: int
    prediction_id: int
    model_id: int | None
    run_id: int | None
    model_label: str
    detections: list[Any]
    n_detections: int
    latency_ms: float
    created_at: datetime


@dataclass(frozen=True)
class ShadowPair:
    """One picture both models answered: production's logged answer and the shadow's, side by side."""

    prediction_id: int
    image_name: str
    thumb_path: str | None
    production: list[Any]
    shadow: list[Any]
    production_latency_ms: float
    shadow_latency_ms: float
    created_at: datetime


@dataclass(frozen=True)
class Feedback:
    id: int
    prediction_id: int
    kind: str
    detection_index: int | None
    class_name: str
    correct_class: str | None
    note: str
    created_at: datetime


@dataclass(frozen=True)
class ReviewItem:
    id: int
    source: str
    reason: str
    file: str
    dataset_version_id: int | None
    prediction_id: int | None
    status: str
    created_at: datetime
    resolved_at: datetime | None
    class_name: str = ""
    score: float | None = None
    resolution: str = ""
    resolved_by: str = ""


@dataclass(frozen=True)
class DriftReport:
    id: int
    reference_version_id: int | None
    model_id: int | None
    window_start: datetime | None
    window_end: datetime | None
    n_reference: int
    n_current: int
    drift_share: float
    drifted: bool
    details: dict[str, Any]
    html_path: str | None
    created_at: datetime
    snapshot_path: str | None = None
    trigger: str = "manual"
    last_prediction_id: int | None = None


@dataclass(frozen=True)
class AuditEvent:
    id: int
    actor: str
    role: str
    action: str
    target: str
    allowed: bool
    created_at: datetime


def from_row(cls: type[T], row: object) -> T:
    """Copy the same-named attributes of an ORM row into dataclass `cls`."""
    return cls(**{f.name: getattr(row, f.name) for f in dataclasses.fields(cls)})
