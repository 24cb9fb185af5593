"""Repository functions over the store. Each takes a keyword-only `session` and returns plain dataclasses.

Open a session with `backend.db.session_scope()`; the caller's scope commits.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from backend.errors import NotFoundError
from backend.models import (
    DatasetRow,
    DatasetVersionRow,
    DriftReportRow,
    FeedbackRow,
    JobRow,
    ModelRow,
    PredictionRow,
    ReviewItemRow,
    RunRow,
    ValidationIssueRow,
    utcnow,
)
from backend.schemas import (
    JOB_ACTIVE,
    Dataset,
    DatasetVersion,
    DriftReport,
    Feedback,
    Job,
    Prediction,
    RegisteredModel,
    ReviewItem,
    Run,
    ValidationIssue,
    from_row,
)

MODEL_STAGES = ("candidate", "production", "archived")


def _get(session: Session, row_cls: type, row_id: int, what: str) -> Any:
    row = session.get(row_cls, row_id)
    if row is None:
        raise NotFoundError(f"{what} {row_id} does not exist.")
    return row


# --- datasets and versions -------------------------------------------------------------------------------------


def create_dataset(*, session: Session, name: str, source: str, description: str = "") -> Dataset:
    """Create a dataset (a named series of versions)."""
    row = DatasetRow(name=name, source=source, description=description)
    session.add(row)
    session.flush()
    return from_row(Dataset, row)


def get_dataset(*, session: Session, dataset_id: int) -> Dataset:
    """Return one dataset or raise NotFoundError."""
    return from_row(Dataset, _get(session, DatasetRow, dataset_id, "Dataset"))


def find_dataset(*, session: Session, name: str) -> Dataset | None:
    """Return the dataset called `name`, if any."""
    row = session.scalar(select(DatasetRow).where(DatasetRow.name == name))
    return from_row(Dataset, row) if row else None


def list_datasets(*, session: Session) -> list[Dataset]:
    """All datasets, newest first."""
    rows = session.scalars(select(DatasetRow).order_by(DatasetRow.created_at.desc(), DatasetRow.id.desc()))
    return [from_row(Dataset, r) for r in rows]


def create_version(
    *,
    session: Session,
    dataset_id: int,
    path: str,
    author: str = "",
    message: str = "",
    parent_id: int | None = None,
    stats: dict[str, Any] | None = None,
    changelog: list[Any] | None = None,
    content_hash: str | None = None,
) -> DatasetVersion:
    """Record a new immutable version of a dataset; its number is one above the dataset's latest."""
    _get(session, DatasetRow, dataset_id, "Dataset")
    latest = session.scalar(
        select(func.max(DatasetVersionRow.number)).where(DatasetVersionRow.dataset_id == dataset_id)
    )
    row = DatasetVersionRow(
        dataset_id=dataset_id,
        number=(latest or 0) + 1,
        parent_id=parent_id,
        author=author,
        message=message,
        path=path,
        content_hash=content_hash,
        stats=stats or {},
        changelog=changelog or [],
    )
    session.add(row)
    session.flush()
    return from_row(DatasetVersion, row)


def get_version(*, session: Session, version_id: int) -> DatasetVersion:
    """Return one dataset version or raise NotFoundError."""
    return from_row(DatasetVersion, _get(session, DatasetVersionRow, version_id, "Dataset version"))


def list_versions(*, session: Session, dataset_id: int | None = None) -> list[DatasetVersion]:
    """Versions (of one dataset, or all), newest first."""
    stmt = select(DatasetVersionRow).order_by(DatasetVersionRow.created_at.desc(), DatasetVersionRow.id.desc())
    if dataset_id is not None:
        stmt = stmt.where(DatasetVersionRow.dataset_id == dataset_id)
    return [from_row(DatasetVersion, r) for r in session.scalars(stmt)]


def update_version_meta(
    *,
    session: Session,
    version_id: int,
    stats: dict[str, Any] | None = None,
    content_hash: str | None = None,
    path: str | None = None,
) -> DatasetVersion:
    """Fill in a version's folder, stats or content hash once known (the files themselves never change)."""
    row = _get(session, DatasetVersionRow, version_id, "Dataset version")
    if path is not None:
        row.path = path
    if stats is not None:
        row.stats = stats
    if content_hash is not None:
        row.content_hash = content_hash
    session.flush()
    return from_row(DatasetVersion, row)


def set_validation(
    *,
    session: Session,
    version_id: int,
    status: str,
    summary: dict[str, Any],
    issues: Iterable[dict[str, Any]],
) -> int:
    """Replace a version's validation result; returns the number of issues stored."""
    row = _get(session, DatasetVersionRow, version_id, "Dataset version")
    row.validation_status = status
    row.validation_summary = summary
    session.query(ValidationIssueRow).filter(ValidationIssueRow.version_id == version_id).delete()
    records = [
        {
            "version_id": version_id,
            "file": str(i["file"]),
            "check": str(i["check"]),
            "severity": str(i["severity"]),
            "message": str(i.get("message", "")),
        }
        for i in issues
    ]
    if records:
        session.execute(ValidationIssueRow.__table__.insert(), records)
    session.flush()
    return len(records)


def list_issues(
    *,
    session: Session,
    version_id: int,
    check: str | None = None,
    severity: str | None = None,
    file: str | None = None,
    limit: int | None = None,
) -> list[ValidationIssue]:
    """Validation issues of a version, filtered."""
    stmt = select(ValidationIssueRow).where(ValidationIssueRow.version_id == version_id)
    if check:
        stmt = stmt.where(ValidationIssueRow.check == check)
    if severity:
        stmt = stmt.where(ValidationIssueRow.severity == severity)
    if file:
        stmt = stmt.where(ValidationIssueRow.file == file)
    stmt = stmt.order_by(ValidationIssueRow.id)
    if limit:
        stmt = stmt.limit(limit)
    return [from_row(ValidationIssue, r) for r in session.scalars(stmt)]


# --- jobs ------------------------------------------------------------------------------------------------------


def create_job(*, session: Session, kind: str, params: dict[str, Any], title: str = "", log_path: str = "") -> Job:
    """Insert a queued job."""
    row = JobRow(kind=kind, params=params, title=title or kind, status="queued", log_path=log_path)
    session.add(row)
    session.flush()
    return from_row(Job, row)


def get_job(*, session: Session, job_id: int) -> Job:
    """Return one job or raise NotFoundError."""
    return from_row(Job, _get(session, JobRow, job_id, "Job"))


def list_jobs(
    *,
    session: Session,
    limit: int = 100,
    statuses: Sequence[str] | None = None,
    kind: str | None = None,
    oldest_first: bool = False,
) -> list[Job]:
    """Jobs, newest first by default."""
    stmt = select(JobRow)
    if statuses:
        stmt = stmt.where(JobRow.status.in_(statuses))
    if kind:
        stmt = stmt.where(JobRow.kind == kind)
    stmt = stmt.order_by(JobRow.id.asc() if oldest_first else JobRow.id.desc()).limit(limit)
    return [from_row(Job, r) for r in session.scalars(stmt)]


def update_job(*, session: Session, job_id: int, **fields: Any) -> None:
    """Set fields of a job row."""
    session.execute(update(JobRow).where(JobRow.id == job_id).values(**fields))


def finish_job(
    *, session: Session, job_id: int, status: str, result: dict[str, Any] | None = None, error: str | None = None
) -> bool:
    """Mark an active job finished; returns False when it had already finished (first writer wins)."""
    values: dict[str, Any] = {"status": status, "finished_at": utcnow(), "result": result, "error": error}
    if status == "succeeded":
        values["progress"] = 1.0
    res = session.execute(update(JobRow).where(JobRow.id == job_id, JobRow.status.in_(JOB_ACTIVE)).values(**values))
    return res.rowcount == 1


def claim_job(*, session: Session, job_id: int, kind: str, limit: int) -> bool:
    """Atomically move a queued job to `starting` if fewer than `limit` jobs of its kind are active."""
    active = (
        select(func.count())
        .select_from(JobRow)
        .where(JobRow.kind == kind, JobRow.status.in_(("starting", "running")))
        .scalar_subquery()
    )
    res = session.execute(
        update(JobRow)
        .where(JobRow.id == job_id, JobRow.status == "queued", active < limit)
        .values(status="starting", started_at=utcnow(), heartbeat_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    return res.rowcount == 1


def count_jobs(*, session: Session, statuses: Sequence[str]) -> int:
    """Number of jobs in any of `statuses`."""
    return session.scalar(select(func.count()).select_from(JobRow).where(JobRow.status.in_(statuses))) or 0


# --- runs ------------------------------------------------------------------------------------------------------


def create_run(
    *,
    session: Session,
    name: str,
    job_id: int | None = None,
    dataset_version_id: int | None = None,
    model: str = "",
    preset: str = "custom",
    params: dict[str, Any] | None = None,
    run_dir: str = "",
) -> Run:
    """Record a training run."""
    row = RunRow(
        name=name,
        job_id=job_id,
        dataset_version_id=dataset_version_id,
        model=model,
        preset=preset,
        params=params or {},
        run_dir=run_dir,
        status="running",
    )
    session.add(row)
    session.flush()
    return from_row(Run, row)


def update_run(*, session: Session, run_id: int, **fields: Any) -> Run:
    """Set fields of a run."""
    row = _get(session, RunRow, run_id, "Run")
    for key, value in fields.items():
        setattr(row, key, value)
    session.flush()
    return from_row(Run, row)


def get_run(*, session: Session, run_id: int) -> Run:
    """Return one run or raise NotFoundError."""
    return from_row(Run, _get(session, RunRow, run_id, "Run"))


def find_run_by_job(*, session: Session, job_id: int) -> Run | None:
    """The run a training job created, if any."""
    row = session.scalar(select(RunRow).where(RunRow.job_id == job_id).order_by(RunRow.id.desc()))
    return from_row(Run, row) if row else None


def list_runs(*, session: Session, limit: int = 200, status: str | None = None) -> list[Run]:
    """Runs, newest first."""
    stmt = select(RunRow).order_by(RunRow.id.desc()).limit(limit)
    if status:
        stmt = stmt.where(RunRow.status == status)
    return [from_row(Run, r) for r in session.scalars(stmt)]


# --- model registry --------------------------------------------------------------------------------------------


def register_model(
    *,
    session: Session,
    name: str,
    weights_path: str,
    run_id: int | None = None,
    metrics: dict[str, Any] | None = None,
    stage: str = "candidate",
    notes: str = "",
) -> RegisteredModel:
    """Add a model to the registry (a candidate unless told otherwise)."""
    if stage not in MODEL_STAGES:
        raise ValueError(f"stage must be one of {MODEL_STAGES}")
    row = ModelRow(name=name, weights_path=weights_path, run_id=run_id, metrics=metrics or {}, stage=stage, notes=notes)
    if stage == "production":
        _demote_production(session)
        row.promoted_at = utcnow()
    session.add(row)
    session.flush()
    return from_row(RegisteredModel, row)


def _demote_production(session: Session) -> None:
    session.execute(update(ModelRow).where(ModelRow.stage == "production").values(stage="archived"))


def set_model_stage(*, session: Session, model_id: int, stage: str) -> RegisteredModel:
    """Move a model to a stage; promoting to production archives the previous production model."""
    if stage not in MODEL_STAGES:
        raise ValueError(f"stage must be one of {MODEL_STAGES}")
    row = _get(session, ModelRow, model_id, "Model")
    if stage == "production":
        _demote_production(session)
        row.promoted_at = utcnow()
    row.stage = stage
    session.flush()
    return from_row(RegisteredModel, row)


def update_model(*, session: Session, model_id: int, **fields: Any) -> RegisteredModel:
    """Set fields of a registered model (ONNX path, thresholds, notes)."""
    row = _get(session, ModelRow, model_id, "Model")
    for key, value in fields.items():
        setattr(row, key, value)
    session.flush()
    return from_row(RegisteredModel, row)


def get_model(*, session: Session, model_id: int) -> RegisteredModel:
    """Return one registered model or raise NotFoundError."""
    return from_row(RegisteredModel, _get(session, ModelRow, model_id, "Model"))


def list_models(*, session: Session, stage: str | None = None) -> list[RegisteredModel]:
    """Registered models, newest first."""
    stmt = select(ModelRow).order_by(ModelRow.id.desc())
    if stage:
        stmt = stmt.where(ModelRow.stage == stage)
    return [from_row(RegisteredModel, r) for r in session.scalars(stmt)]


def get_production_model(*, session: Session) -> RegisteredModel | None:
    """The model in production, if one was promoted."""
    row = session.scalar(select(ModelRow).where(ModelRow.stage == "production").order_by(ModelRow.id.desc()))
    return from_row(RegisteredModel, row) if row else None


# --- predictions, feedback, review queue -----------------------------------------------------------------------


def add_prediction(*, session: Session, **fields: Any) -> Prediction:
    """Log one prediction (see PredictionRow for the fields)."""
    row = PredictionRow(**fields)
    row.n_detections = len(row.detections or [])
    session.add(row)
    session.flush()
    return from_row(Prediction, row)


def add_predictions_bulk(*, session: Session, records: Sequence[dict[str, Any]]) -> int:
    """Insert many predictions in one statement (batch detection, benchmarks)."""
    if not records:
        return 0
    now = utcnow()
    rows = [
        {
            "model_label": "",
            "source": "cli",
            "image_name": "",
            "image_sha256": "",
            "features": {},
            "detections": [],
            "latency_ms": 0.0,
            "conf": 0.25,
            "iou": 0.45,
            "created_at": now,
            **r,
            "n_detections": len(r.get("detections") or []),
        }
        for r in records
    ]
    session.execute(PredictionRow.__table__.insert(), rows)
    return len(rows)


def get_prediction(*, session: Session, prediction_id: int) -> Prediction:
    """Return one prediction or raise NotFoundError."""
    return from_row(Prediction, _get(session, PredictionRow, prediction_id, "Prediction"))


def list_predictions(
    *,
    session: Session,
    limit: int = 100,
    since: datetime | None = None,
    until: datetime | None = None,
    model_id: int | None = None,
) -> list[Prediction]:
    """Predictions, newest first."""
    stmt = select(PredictionRow).order_by(PredictionRow.id.desc()).limit(limit)
    if since:
        stmt = stmt.where(PredictionRow.created_at >= since)
    if until:
        stmt = stmt.where(PredictionRow.created_at < until)
    if model_id is not None:
        stmt = stmt.where(PredictionRow.model_id == model_id)
    return [from_row(Prediction, r) for r in session.scalars(stmt)]


def count_predictions(*, session: Session) -> int:
    """Number of logged predictions."""
    return session.scalar(select(func.count()).select_from(PredictionRow)) or 0


def add_feedback(
    *,
    session: Session,
    prediction_id: int,
    kind: str,
    class_name: str = "",
    detection_index: int | None = None,
    correct_class: str | None = None,
    note: str = "",
) -> Feedback:
    """Store end-user feedback on a prediction; wrong and missed items also enter the review queue."""
    if kind not in ("correct", "wrong", "missed"):
        raise ValueError("kind must be correct, wrong or missed")
    prediction = _get(session, PredictionRow, prediction_id, "Prediction")
    row = FeedbackRow(
        prediction_id=prediction_id,
        kind=kind,
        detection_index=detection_index,
        class_name=class_name,
        correct_class=correct_class,
        note=note,
    )
    session.add(row)
    if kind != "correct":
        reason = (
            f"User says '{class_name}' is really '{correct_class}'"
            if kind == "wrong"
            else f"User says the detector missed '{class_name or correct_class or 'an item'}'"
        )
        session.add(
            ReviewItemRow(source="feedback", reason=reason, file=prediction.image_name, prediction_id=prediction_id)
        )
    session.flush()
    return from_row(Feedback, row)


def feedback_counts(*, session: Session) -> dict[str, dict[str, int]]:
    """Feedback counted per class: {class: {"correct": n, "wrong": n, "missed": n}}."""
    rows = session.execute(
        select(FeedbackRow.class_name, FeedbackRow.kind, func.count()).group_by(
            FeedbackRow.class_name, FeedbackRow.kind
        )
    )
    out: dict[str, dict[str, int]] = {}
    for class_name, kind, n in rows:
        out.setdefault(class_name or "(unknown)", {"correct": 0, "wrong": 0, "missed": 0})[kind] = n
    return out


def add_review_item(
    *,
    session: Session,
    source: str,
    reason: str,
    file: str = "",
    dataset_version_id: int | None = None,
    prediction_id: int | None = None,
) -> ReviewItem:
    """Put an image on the review queue (from validation, feedback, drift or a user)."""
    row = ReviewItemRow(
        source=source, reason=reason, file=file, dataset_version_id=dataset_version_id, prediction_id=prediction_id
    )
    session.add(row)
    session.flush()
    return from_row(ReviewItem, row)


def list_review_items(*, session: Session, status: str | None = "open", limit: int = 500) -> list[ReviewItem]:
    """Review queue items, oldest first."""
    stmt = select(ReviewItemRow).order_by(ReviewItemRow.id).limit(limit)
    if status:
        stmt = stmt.where(ReviewItemRow.status == status)
    return [from_row(ReviewItem, r) for r in session.scalars(stmt)]


def resolve_review_item(*, session: Session, item_id: int, status: str = "done") -> ReviewItem:
    """Close a review item as done or dismissed."""
    row = _get(session, ReviewItemRow, item_id, "Review item")
    row.status = status
    row.resolved_at = utcnow()
    session.flush()
    return from_row(ReviewItem, row)


# --- drift -----------------------------------------------------------------------------------------------------


def add_drift_report(*, session: Session, **fields: Any) -> DriftReport:
    """Store a drift report summary (the HTML lives in the workspace)."""
    row = DriftReportRow(**fields)
    session.add(row)
    session.flush()
    return from_row(DriftReport, row)


def latest_drift_report(*, session: Session) -> DriftReport | None:
    """The newest drift report, if any."""
    row = session.scalar(select(DriftReportRow).order_by(DriftReportRow.id.desc()))
    return from_row(DriftReport, row) if row else None


def list_drift_reports(*, session: Session, limit: int = 50) -> list[DriftReport]:
    """Drift reports, newest first."""
    rows = session.scalars(select(DriftReportRow).order_by(DriftReportRow.id.desc()).limit(limit))
    return [from_row(DriftReport, r) for r in rows]
