"""ORM rows of the store (SQLAlchemy 2.0 typed models). Pages never see these: see `backend.store`."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from backend.core.clock import utcnow
from backend.core.enums import JobStatus, ModelStage, ReviewStatus, RunStatus, ValidationStatus


class Base(DeclarativeBase):
    """Declarative base; `type_annotation_map` keeps JSON columns portable across SQLite and PostgreSQL."""

    type_annotation_map: ClassVar[dict[Any, Any]] = {dict[str, Any]: JSON, list[Any]: JSON}


class DatasetRow(Base):
    __tablename__ = "datasets"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    source: Mapped[str] = mapped_column(String(40))  # demo | coco | yolo
    description: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class DatasetVersionRow(Base):
    __tablename__ = "dataset_versions"
    __table_args__ = (Index("ix_versions_dataset_number", "dataset_id", "number", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(ForeignKey("datasets.id", ondelete="CASCADE"))
    number: Mapped[int] = mapped_column(Integer)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("dataset_versions.id"), nullable=True)
    author: Mapped[str] = mapped_column(String(120), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    path: Mapped[str] = mapped_column(Text)  # prepared YOLO dataset folder (holds data.yaml)
    content_hash: Mapped[str | None] = mapped_column(String(80), nullable=True)  # DVC md5 of the folder
    stats: Mapped[dict[str, Any]] = mapped_column(default=dict)
    changelog: Mapped[list[Any]] = mapped_column(default=list)
    validation_status: Mapped[str] = mapped_column(String(20), default=ValidationStatus.NOT_CHECKED)
    validation_summary: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ValidationIssueRow(Base):
    __tablename__ = "validation_issues"
    __table_args__ = (
        Index("ix_issues_version_check", "version_id", "check"),
        Index("ix_issues_version_file", "version_id", "file"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id", ondelete="CASCADE"))
    file: Mapped[str] = mapped_column(String(500))
    check: Mapped[str] = mapped_column(String(60))
    severity: Mapped[str] = mapped_column(String(20))
    message: Mapped[str] = mapped_column(Text, default="")


class DatasetIndexRow(Base):
    """One per indexed version: whether its index is ready, its class names and a small summary for charts."""

    __tablename__ = "dataset_indexes"

    version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default="building")  # building | ready | failed
    images: Mapped[int] = mapped_column(Integer, default=0)
    boxes: Mapped[int] = mapped_column(Integer, default=0)
    names: Mapped[list[Any]] = mapped_column(default=list)
    summary: Mapped[dict[str, Any]] = mapped_column(default=dict)  # counts by class and split, histograms
    job_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # the job building it, if any
    seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    built_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)


class IndexImageRow(Base):
    """One image of an indexed version (what the gallery shows and filters on)."""

    __tablename__ = "index_images"
    __table_args__ = (
        Index("ix_index_images_version_position", "version_id", "position", unique=True),
        Index("ix_index_images_version_file", "version_id", "file"),
        Index("ix_index_images_version_split", "version_id", "split", "position"),
        Index("ix_index_images_version_boxes", "version_id", "boxes"),
        Index("ix_index_images_version_size", "version_id", "width", "height"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)  # order in the version: split, then path
    file: Mapped[str] = mapped_column(String(500))  # file name (what validation issues name)
    rel_path: Mapped[str] = mapped_column(Text)  # inside the version folder
    split: Mapped[str] = mapped_column(String(20))
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)  # None: header unreadable
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    mtime_ns: Mapped[int] = mapped_column(BigInteger, default=0)
    boxes: Mapped[int] = mapped_column(Integer, default=0)
    classes: Mapped[str] = mapped_column(Text, default="")  # class ids present, e.g. ",0,3,"


class IndexBoxRow(Base):
    """One box of an indexed version (class, centre, size and area as fractions of the image)."""

    __tablename__ = "index_boxes"
    __table_args__ = (
        Index("ix_index_boxes_version_class", "version_id", "class_id", "image_position"),
        Index("ix_index_boxes_version_image", "version_id", "image_position"),
        Index("ix_index_boxes_version_area", "version_id", "area"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id", ondelete="CASCADE"))
    image_position: Mapped[int] = mapped_column(Integer)  # IndexImageRow.position of its image
    class_id: Mapped[int] = mapped_column(Integer)
    cx: Mapped[float] = mapped_column(Float)
    cy: Mapped[float] = mapped_column(Float)
    w: Mapped[float] = mapped_column(Float)
    h: Mapped[float] = mapped_column(Float)
    area: Mapped[float] = mapped_column(Float)


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (Index("ix_jobs_status_kind", "status", "kind"), Index("ix_jobs_created", "created_at"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(60))
    title: Mapped[str] = mapped_column(String(300), default="")
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default=JobStatus.QUEUED)
    pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    cancel_requested_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    progress: Mapped[float | None] = mapped_column(Float, nullable=True)
    message: Mapped[str] = mapped_column(Text, default="")
    log_path: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    live: Mapped[dict[str, Any]] = mapped_column(default=dict)  # e.g. per-epoch metrics while training
    failure_code: Mapped[str | None] = mapped_column(String(40), nullable=True)  # a FailureCode value
    host: Mapped[str | None] = mapped_column(String(255), nullable=True)  # machine the worker runs on (pid check)
    pid_started: Mapped[str | None] = mapped_column(String(40), nullable=True)  # start-time token of `pid`
    progress_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)  # last progress (watchdog)


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (Index("ix_runs_created", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    job_id: Mapped[int | None] = mapped_column(ForeignKey("jobs.id", ondelete="SET NULL"), nullable=True)
    dataset_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="SET NULL"), nullable=True
    )
    model: Mapped[str] = mapped_column(String(200), default="")
    preset: Mapped[str] = mapped_column(String(60), default="custom")
    params: Mapped[dict[str, Any]] = mapped_column(default=dict)
    status: Mapped[str] = mapped_column(String(20), default=RunStatus.RUNNING)
    run_dir: Mapped[str] = mapped_column(Text, default="")
    weights_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)  # final training metrics
    evaluation: Mapped[dict[str, Any]] = mapped_column(default=dict)  # jobs.evaluate output
    history: Mapped[list[Any]] = mapped_column(default=list)  # per-epoch metrics
    tracking: Mapped[dict[str, Any]] = mapped_column(default=dict)  # ClearML mode, task id, session path
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    duration_s: Mapped[float | None] = mapped_column(Float, nullable=True)
    # The uploaded pretrained checkpoint the run started from (None: an architecture or a registered model).
    pretrained_model_id: Mapped[int | None] = mapped_column(
        ForeignKey("pretrained_models.id", ondelete="SET NULL"), nullable=True
    )


class PretrainedModelRow(Base):
    """A pretrained checkpoint a scientist uploaded to start runs from (a base model), kept read-only in the
    workspace with the sha256 checked before every run that starts from it."""

    __tablename__ = "pretrained_models"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    weights_path: Mapped[str] = mapped_column(Text)
    weights_sha256: Mapped[str] = mapped_column(String(64), unique=True)
    source: Mapped[str] = mapped_column(Text, default="")  # where it came from, in the uploader's words
    original_filename: Mapped[str] = mapped_column(String(255), default="")
    class_names: Mapped[list[Any]] = mapped_column(default=list)
    uploaded_by: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ModelRow(Base):
    __tablename__ = "models"
    __table_args__ = (Index("ix_models_stage", "stage"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"), nullable=True)
    name: Mapped[str] = mapped_column(String(200))
    stage: Mapped[str] = mapped_column(String(20), default=ModelStage.CANDIDATE)
    weights_path: Mapped[str] = mapped_column(Text)
    onnx_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    class_thresholds: Mapped[dict[str, Any]] = mapped_column(default=dict)
    notes: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    promoted_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    weights_sha256: Mapped[str] = mapped_column(String(64), default="", server_default="")  # recorded at registration
    onnx_sha256: Mapped[str] = mapped_column(String(64), default="", server_default="")


class ModelEventRow(Base):
    """The model history: who promoted, overrode, rolled back or exported which model, when and why."""

    __tablename__ = "model_events"
    __table_args__ = (Index("ix_model_events_created", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id", ondelete="SET NULL"), nullable=True)
    previous_model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id", ondelete="SET NULL"), nullable=True)
    action: Mapped[str] = mapped_column(String(20))  # promoted | overridden | blocked | rolled_back | exported
    actor: Mapped[str] = mapped_column(String(120), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    figures: Mapped[dict[str, Any]] = mapped_column(default=dict)  # the gate's figures
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class EvalSetRow(Base):
    """One version of a task's evaluation set: the frozen split of a dataset version the promotion gate always uses.

    Rows are only added (never changed): the newest number of a task is its current set, the rows before it are its
    history (who chose or adopted which version, when and why).
    """

    __tablename__ = "eval_sets"
    __table_args__ = (Index("ix_eval_sets_task_number", "task", "number", unique=True),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    task: Mapped[str] = mapped_column(String(40))  # DetectionTask
    number: Mapped[int] = mapped_column(Integer)  # the set's version, 1, 2, ... per task
    name: Mapped[str] = mapped_column(String(300))  # e.g. "demo-food v1 val"
    dataset_version_id: Mapped[int] = mapped_column(ForeignKey("dataset_versions.id"))
    split: Mapped[str] = mapped_column(String(10))  # EvalSplit
    images: Mapped[int] = mapped_column(Integer)
    instances: Mapped[int] = mapped_column(Integer)
    class_names: Mapped[list[Any]] = mapped_column(default=list)
    class_instances: Mapped[dict[str, Any]] = mapped_column(default=dict)  # {class name: boxes}
    action: Mapped[str] = mapped_column(String(20))  # EvalSetAction
    actor: Mapped[str] = mapped_column(String(120), default="")
    reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class PredictionRow(Base):
    __tablename__ = "predictions"
    __table_args__ = (Index("ix_predictions_created", "created_at"), Index("ix_predictions_model", "model_id"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id", ondelete="SET NULL"), nullable=True)
    model_label: Mapped[str] = mapped_column(String(300), default="")
    source: Mapped[str] = mapped_column(String(20), default="upload")  # upload | camera | cli
    image_name: Mapped[str] = mapped_column(String(500), default="")
    image_sha256: Mapped[str] = mapped_column(String(64), default="")
    image_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    thumb_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    features: Mapped[dict[str, Any]] = mapped_column(default=dict)
    detections: Mapped[list[Any]] = mapped_column(default=list)
    n_detections: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    conf: Mapped[float] = mapped_column(Float)  # always written: the thresholds that answer was made with
    iou: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ShadowPredictionRow(Base):
    """A shadow model's answer on a logged prediction's picture: kept apart from the prediction log, one per model."""

    __tablename__ = "shadow_predictions"
    __table_args__ = (
        Index("ix_shadow_predictions_once", "prediction_id", "model_label", unique=True),
        Index("ix_shadow_predictions_model", "model_label"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prediction_id: Mapped[int] = mapped_column(ForeignKey("predictions.id", ondelete="CASCADE"))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id", ondelete="SET NULL"), nullable=True)
    run_id: Mapped[int | None] = mapped_column(ForeignKey("runs.id", ondelete="SET NULL"), nullable=True)
    model_label: Mapped[str] = mapped_column(String(300))  # the shadow's `ServingModel.log_label`
    detections: Mapped[list[Any]] = mapped_column(default=list)
    n_detections: Mapped[int] = mapped_column(Integer, default=0)
    latency_ms: Mapped[float] = mapped_column(Float, default=0.0)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class FeedbackRow(Base):
    __tablename__ = "feedback"
    __table_args__ = (Index("ix_feedback_prediction", "prediction_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    prediction_id: Mapped[int] = mapped_column(ForeignKey("predictions.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))  # correct | wrong | missed
    detection_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    class_name: Mapped[str] = mapped_column(String(100), default="")
    correct_class: Mapped[str | None] = mapped_column(String(100), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class ReviewItemRow(Base):
    __tablename__ = "review_items"
    __table_args__ = (
        Index("ix_review_status", "status"),
        Index("ix_review_version_status", "dataset_version_id", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    source: Mapped[str] = mapped_column(String(20))  # validation | feedback | drift | user
    reason: Mapped[str] = mapped_column(Text, default="")
    file: Mapped[str] = mapped_column(String(500), default="")
    dataset_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), nullable=True
    )
    prediction_id: Mapped[int | None] = mapped_column(ForeignKey("predictions.id", ondelete="CASCADE"), nullable=True)
    status: Mapped[str] = mapped_column(String(20), default=ReviewStatus.OPEN)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    class_name: Mapped[str] = mapped_column(String(100), default="")  # the class the reason is about, if any
    score: Mapped[float | None] = mapped_column(Float, nullable=True)  # e.g. label quality (lower = worse)
    resolution: Mapped[str] = mapped_column(Text, default="")  # "saved as v5" or the reason it was dismissed
    resolved_by: Mapped[str] = mapped_column(String(120), default="")


class DriftReportRow(Base):
    __tablename__ = "drift_reports"
    __table_args__ = (Index("ix_drift_created", "created_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    reference_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="SET NULL"), nullable=True
    )
    model_id: Mapped[int | None] = mapped_column(ForeignKey("models.id", ondelete="SET NULL"), nullable=True)
    window_start: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    window_end: Mapped[datetime | None] = mapped_column(DateTime, nullable=True)
    n_reference: Mapped[int] = mapped_column(Integer, default=0)
    n_current: Mapped[int] = mapped_column(Integer, default=0)
    drift_share: Mapped[float] = mapped_column(Float, default=0.0)
    drifted: Mapped[bool] = mapped_column(Boolean, default=False)
    details: Mapped[dict[str, Any]] = mapped_column(default=dict)
    html_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    snapshot_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    trigger: Mapped[str] = mapped_column(String(20), default="manual")  # manual | auto | cli
    last_prediction_id: Mapped[int | None] = mapped_column(Integer, nullable=True)  # newest prediction covered
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)


class AuditRow(Base):
    """Who did (or was refused) what, when: one row per call of a function that changes something."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_created", "created_at"), Index("ix_audit_actor", "actor"))

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    actor: Mapped[str] = mapped_column(String(120))
    role: Mapped[str] = mapped_column(String(20))
    action: Mapped[str] = mapped_column(String(40))  # a Permission value
    target: Mapped[str] = mapped_column(String(300), default="")
    allowed: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime] = mapped_column(DateTime, default=utcnow)
