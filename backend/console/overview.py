"""The status overview the Home page shows: data, jobs, production model, drift."""

from __future__ import annotations

from dataclasses import dataclass

from backend.core.enums import ACTIVE_JOB_STATUSES, ReviewStatus
from backend.monitoring.reports import NOT_TESTED
from backend.store import datasets as dataset_store
from backend.store import drift as drift_store
from backend.store import jobs as job_store
from backend.store import predictions as prediction_store
from backend.store import registered_models as model_store
from backend.store import review as review_store
from backend.store import runs as run_store
from backend.store.engine import session_scope
from backend.store.records import Dataset, DatasetVersion, DriftReport, Job, RegisteredModel, Run


@dataclass(frozen=True)
class DatasetStatus:
    dataset: Dataset
    latest: DatasetVersion | None
    versions: int


@dataclass(frozen=True)
class Overview:
    datasets: list[DatasetStatus]
    active_jobs: list[Job]
    production_model: RegisteredModel | None
    latest_run: Run | None
    latest_drift: DriftReport | None
    predictions: int
    open_reviews: int
    drifted_features: tuple[str, ...] = ()  # features the latest drift report flagged
    tested_features: int = 0  # features the latest drift report could test (the base of its drifted share)


def get_overview() -> Overview:
    """Collect what the Home page shows, in one short read of the store."""
    with session_scope() as session:
        datasets = []
        for ds in dataset_store.list_datasets(session=session):
            versions = dataset_store.list_versions(session=session, dataset_id=ds.id)
            datasets.append(DatasetStatus(dataset=ds, latest=versions[0] if versions else None, versions=len(versions)))
        runs = run_store.list_runs(session=session, limit=1)
        latest_drift = drift_store.latest_drift_report(session=session)
        drift_features = latest_drift.details.get("features", []) if latest_drift else []
        return Overview(
            datasets=datasets,
            active_jobs=job_store.list_jobs(session=session, statuses=ACTIVE_JOB_STATUSES, limit=50),
            production_model=model_store.get_production_model(session=session),
            latest_run=runs[0] if runs else None,
            latest_drift=latest_drift,
            predictions=prediction_store.count_predictions(session=session),
            open_reviews=len(review_store.list_review_items(session=session, status=ReviewStatus.OPEN)),
            drifted_features=tuple(f["name"] for f in drift_features if f.get("drifted")),
            tested_features=sum(1 for f in drift_features if f.get("method") != NOT_TESTED),
        )
