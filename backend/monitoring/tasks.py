"""Monitoring's job kinds: a drift report, and simulated traffic sent through the serving model. Their typed params,
how to start each (`start_drift_report`, and `maybe_start_auto_report` when one is due; `start_simulated_traffic`),
what each worker runs and how a crash is settled (nothing to settle for either).
"""

from __future__ import annotations

import shutil
from typing import Any

from backend.core.access import SYSTEM, Actor, Permission
from backend.core.enums import DriftTrigger, JobKind, JobStatus
from backend.core.errors import BadInputError, NotFoundError, cap_message
from backend.core.progress import sub_progress
from backend.runtime import runner
from backend.runtime.kinds import JobContext, JobParams, nothing_to_recover, register_task
from backend.store import drift as drift_store
from backend.store import jobs as job_store
from backend.store.audit import authorize
from backend.store.engine import session_scope


class DriftReportParams(JobParams):
    """A `drift_report` job: how many of the latest predictions it compares, and who asked."""

    window: int
    trigger: DriftTrigger = DriftTrigger.MANUAL


class SimulateTrafficParams(JobParams):
    """A `simulate_traffic` job: the shift (a `TrafficShift` value, checked when queued), how many pictures, and
    the seed they are drawn with."""

    shift: str
    images: int
    seed: int = 0


def start_drift_report(*, actor: Actor, window: int | None = None, trigger: DriftTrigger = DriftTrigger.MANUAL) -> int:
    """Queue a drift report on the latest `window` predictions (default `monitor.window`); returns the job id.

    Raises:
        AccessDeniedError: The actor may not monitor.
        BadInputError: The window is smaller than `monitor.min_window`.
    """
    from backend.core.params import get_params

    authorize(actor, Permission.MONITOR, f"drift report ({trigger})")
    params = get_params().monitor
    size = int(window or params.window)
    if size < params.min_window:
        raise BadInputError(f"A report needs a window of at least {params.min_window} predictions (got {size}).")
    automatic = " (automatic)" if trigger == DriftTrigger.AUTO else ""
    return runner.submit(
        JobKind.DRIFT_REPORT,
        DriftReportParams(window=size, trigger=trigger),
        title=f"Drift report on the last {size} predictions{automatic}",
    )


def maybe_start_auto_report() -> int | None:
    """Start an automatic report when `monitor.auto_report_every` predictions arrived since the last report.

    Returns:
        The job id, or None when none is due (or one is already queued or running).
    """
    from backend.core.params import get_params

    params = get_params().monitor
    if params.auto_report_every <= 0:
        return None
    with session_scope() as session:
        covered = drift_store.last_covered_prediction_id(session=session)
        new = drift_store.count_predictions_after(session=session, prediction_id=covered)
        active = job_store.list_jobs(
            session=session, statuses=[s.value for s in JobStatus if s.active], kind=JobKind.DRIFT_REPORT, limit=1
        )
    if new < params.auto_report_every or active or new < params.min_window:
        return None
    return start_drift_report(actor=SYSTEM, window=params.window, trigger=DriftTrigger.AUTO)


def start_simulated_traffic(*, actor: Actor, shift: str, images: int, seed: int = 0) -> int:
    """Queue a job that sends `images` generated pictures with `shift` through the serving model; returns the job id.

    Raises:
        AccessDeniedError: The actor may not monitor.
        BadInputError: Unknown shift or a count out of range.
        NotFoundError: No model can serve yet.
    """
    from backend.monitoring.traffic import MAX_TRAFFIC_IMAGES, parse_shift
    from backend.serving.service import serving_model

    authorize(actor, Permission.MONITOR, f"simulated traffic ({cap_message(shift, 40)})")
    kind = parse_shift(shift)
    if not 1 <= int(images) <= MAX_TRAFFIC_IMAGES:
        raise BadInputError(f"Send between 1 and {MAX_TRAFFIC_IMAGES:,} pictures (got {images}).")
    if serving_model() is None:
        raise NotFoundError("No model can answer yet: train one on the Train page first.")
    return runner.submit(
        JobKind.SIMULATE_TRAFFIC,
        SimulateTrafficParams(shift=kind.value, images=images, seed=seed),
        title=f"Simulated traffic: {images} pictures, shift {kind.value}",
    )


@register_task(JobKind.DRIFT_REPORT, params=DriftReportParams, recover=nothing_to_recover)
def drift_report_task(ctx: JobContext[DriftReportParams]) -> dict[str, Any]:
    """Build a drift report on the latest predictions and record it (a crash leaves at most an orphan folder)."""
    from backend.monitoring.service import build_drift_report

    report = build_drift_report(window=ctx.params.window, trigger=ctx.params.trigger, progress=ctx.progress)
    return {
        "report_id": report.id,
        "drifted": report.drifted,
        "drift_share": round(report.drift_share, 4),
        "n_current": report.n_current,
    }


@register_task(JobKind.SIMULATE_TRAFFIC, params=SimulateTrafficParams, recover=nothing_to_recover)
def simulate_traffic_task(ctx: JobContext[SimulateTrafficParams]) -> dict[str, Any]:
    """Draw shifted pictures, detect and log each through the serving model, then start an automatic report if due."""
    from backend.monitoring.traffic import generate_traffic, send_traffic

    folder = ctx.settings.home / "traffic" / f"job-{ctx.job_id}"
    try:
        batch = generate_traffic(
            ctx.params.shift,
            images=ctx.params.images,
            out_dir=folder,
            seed=ctx.params.seed,
            workers=1,
            progress=sub_progress(ctx.progress, 0.0, 0.5),
        )
        ids = send_traffic(batch.files, progress=sub_progress(ctx.progress, 0.5, 1.0))
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # the prediction log keeps its own copies
    report_job = maybe_start_auto_report()
    return {"shift": batch.shift.value, "sent": len(ids), "auto_report_job": report_job}
