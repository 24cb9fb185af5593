"""Monitoring's job kinds: a drift report, and simulated traffic sent through the serving model."""

from __future__ import annotations

import shutil
from typing import Any

from backend.core.enums import JobKind
from backend.core.progress import sub_progress
from backend.runtime.registry import JobContext, nothing_to_recover, register_task


@register_task(JobKind.DRIFT_REPORT, recover=nothing_to_recover)
def drift_report_task(ctx: JobContext) -> dict[str, Any]:
    """Build a drift report on the latest predictions and record it (a crash leaves at most an orphan folder)."""
    from backend.monitoring.service import build_drift_report

    report = build_drift_report(
        window=int(ctx.params.get("window") or 0) or None,
        trigger=str(ctx.params.get("trigger", "manual")),
        progress=ctx.progress,
    )
    return {
        "report_id": report.id,
        "drifted": report.drifted,
        "drift_share": round(report.drift_share, 4),
        "n_current": report.n_current,
    }


@register_task(JobKind.SIMULATE_TRAFFIC, recover=nothing_to_recover)
def simulate_traffic_task(ctx: JobContext) -> dict[str, Any]:
    """Draw shifted pictures, detect and log each through the serving model, then start an automatic report if due."""
    from backend.monitoring.service import maybe_start_auto_report
    from backend.monitoring.traffic import generate_traffic, send_traffic

    folder = ctx.settings.home / "traffic" / f"job-{ctx.job_id}"
    try:
        batch = generate_traffic(
            str(ctx.params["shift"]),
            images=int(ctx.params["images"]),
            out_dir=folder,
            seed=int(ctx.params.get("seed", 0)),
            workers=1,
            progress=sub_progress(ctx.progress, 0.0, 0.5),
        )
        ids = send_traffic(batch.files, progress=sub_progress(ctx.progress, 0.5, 1.0))
    finally:
        shutil.rmtree(folder, ignore_errors=True)  # the prediction log keeps its own copies
    report_job = maybe_start_auto_report()
    return {"shift": batch.shift.value, "sent": len(ids), "auto_report_job": report_job}
