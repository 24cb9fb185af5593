"""The annotation domain's background jobs: the typed params of each, how to start each (one `start_*` per kind),
what its worker runs, and how a crash of it is settled.

Kinds: `label_errors` (rank a version's images by cleanlab label quality with the serving model and queue the
lowest) and `validate_retrain` (after a batch of edits: validate the new version, then queue training on it with
the previous run's parameters).
"""

from __future__ import annotations

from typing import Any

from backend.core.access import SYSTEM, Actor, Permission
from backend.core.enums import JobKind, RunStatus
from backend.core.errors import BadInputError
from backend.data.tasks import version_title
from backend.runtime import runner
from backend.runtime.kinds import JobContext, JobParams, nothing_to_recover, register_task
from backend.store import datasets as dataset_store
from backend.store import registered_models as model_store
from backend.store import runs as run_store
from backend.store.audit import authorize
from backend.store.engine import session_scope
from backend.store.records import Run


class LabelErrorsParams(JobParams):
    """A `label_errors` job: the version to score, how many of its worst images to queue, and the registered model
    to predict with (None: the model that serves)."""

    version_id: int
    top_k: int = 20
    model_id: int | None = None


class ValidateRetrainParams(JobParams):
    """A `validate_retrain` job: the version to validate and train on, and the run whose settings it reuses."""

    version_id: int
    run_id: int


def start_label_error_scan(version_id: int, *, actor: Actor, top_k: int = 20, model_id: int | None = None) -> int:
    """Queue a job that scores a version's labels against a model and queues the `top_k` worst images.

    Args:
        version_id: The dataset version to check.
        actor: Who asks (needs the review permission).
        top_k: How many of the most suspicious images to queue.
        model_id: A registered model to predict with; default: the model that serves. Never a file path: only
            registered weights, checked against their recorded sha256, are loaded.

    Raises:
        AccessDeniedError: The actor may not review.
        BadInputError: `top_k` below 1.
        NotFoundError: No such registered model.
    """
    authorize(actor, Permission.REVIEW, f"label error scan of dataset version {version_id}")
    if top_k < 1:
        raise BadInputError("Queue at least one image (top K must be 1 or more).")
    if model_id is not None:
        with session_scope() as session:
            model_store.get_model(session=session, model_id=model_id)  # NotFoundError before queueing
    params = LabelErrorsParams(version_id=version_id, top_k=top_k, model_id=model_id)
    return runner.submit(
        JobKind.LABEL_ERRORS, params, title=f"Find suspected label errors in {version_title(version_id)}"
    )


def previous_run(version_id: int) -> Run | None:
    """The newest finished run on any version of this version's dataset (whose parameters a retrain reuses)."""
    with session_scope() as session:
        version = dataset_store.get_version(session=session, version_id=version_id)
        siblings = {v.id for v in dataset_store.list_versions(session=session, dataset_id=version.dataset_id)}
        runs = run_store.list_runs(session=session, limit=200, status=RunStatus.SUCCEEDED)
    return next((r for r in runs if r.dataset_version_id in siblings), None)


def start_validate_retrain(version_id: int, *, actor: Actor) -> int:
    """Queue validation of a version, followed by training on it with the previous run's parameters.

    Raises:
        BadInputError: No earlier finished run on this dataset to take parameters from.
    """
    authorize(actor, Permission.TRAIN, f"validate and retrain dataset version {version_id}")
    run = previous_run(version_id)
    if run is None:
        raise BadInputError("No finished training run on this dataset yet: start the first one on the Train page.")
    return runner.submit(
        JobKind.VALIDATE_RETRAIN,
        ValidateRetrainParams(version_id=version_id, run_id=run.id),
        title=f"Validate {version_title(version_id)}, then retrain like run {run.name}",
    )


@register_task(JobKind.LABEL_ERRORS, params=LabelErrorsParams, recover=nothing_to_recover)
def label_errors_task(ctx: JobContext[LabelErrorsParams]) -> dict[str, Any]:
    """Job body: predict on every image, score with cleanlab, queue the lowest-scoring images."""
    from backend.annotation.suspects import find_label_errors, queue_suspects

    p = ctx.params
    suspects = find_label_errors(p.version_id, model_id=p.model_id, progress=ctx.progress)
    added = queue_suspects(p.version_id, suspects, top_k=p.top_k)
    worst = [{"file": s.file, "score": round(s.score, 4), "kind": s.kind} for s in suspects[:5]]
    return {"images": len(suspects), "queued": added, "worst": worst}


@register_task(JobKind.VALIDATE_RETRAIN, params=ValidateRetrainParams, recover=nothing_to_recover)
def validate_retrain_task(ctx: JobContext[ValidateRetrainParams]) -> dict[str, Any]:
    """Job body: validate the version; unless it has error-level issues, queue training like the previous run."""
    from backend.data.datasets import validate_version
    from backend.training.service import build_config
    from backend.training.tasks import start_training

    version_id = ctx.params.version_id
    report = validate_version(version_id, progress=ctx.progress)
    with session_scope() as session:
        run = run_store.get_run(session=session, run_id=ctx.params.run_id)
    preset = run.preset if run.preset != "custom" else None
    config = build_config(preset, {k: v for k, v in run.params.items() if k != "resume"})
    job_id = start_training(version_id, config, actor=SYSTEM, preset=preset)
    return {"validation": report.summary_line(), "train_job_id": job_id, "like_run": run.id}
