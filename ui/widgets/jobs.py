"""The live jobs panel: progress bars, elapsed time, log tail and cancel, refreshed from the store."""

from __future__ import annotations

import streamlit as st

from backend.core.clock import utcnow
from backend.core.enums import JobKind, JobStatus
from backend.runtime import runner
from backend.runtime.views import keep_runner_healthy, list_jobs
from backend.store.records import Job
from backend.training.estimate import rough_duration, rough_range
from backend.training.service import time_left
from ui.widgets.calls import call
from ui.widgets.shell import current_actor
from ui.widgets.text import ago, duration, plain

STATUS_ICONS = {
    JobStatus.QUEUED: ":gray[⏱️]",
    JobStatus.STARTING: ":blue[🚀]",
    JobStatus.RUNNING: ":blue[🔄]",
    JobStatus.SUCCEEDED: ":green[✅]",
    JobStatus.FAILED: ":red[⛔]",
    JobStatus.CANCELLED: ":gray[✖️]",
}


def render_job(job: Job, *, key: str, show_log: bool = True) -> None:
    """One job: status, progress bar, timing, message, log tail and a cancel button while it runs."""
    now = utcnow()
    icon = STATUS_ICONS.get(job.status, "•")
    with st.container(border=True):
        head, side = st.columns([4, 1])
        head.markdown(f"{icon} **{plain(job.title or job.kind)}** · job {job.id} · {job.status}")
        if job.active:
            if job.cancel_requested_at:
                side.caption("Cancelling…")
            elif side.button("Cancel", key=f"{key}-cancel-{job.id}", help="Stop this job"):
                call(runner.cancel, job.id, actor=current_actor(), action="Cancelling")
                st.toast(f"Cancelling job {job.id}")
        if job.status == JobStatus.QUEUED:
            st.caption("Waiting for a free slot: another job of this kind is running.")
        elif job.active:
            st.progress(job.progress or 0.0, text=plain(job.message) or "Working…")
        elif job.status == JobStatus.SUCCEEDED:
            st.caption(f"Finished {ago(job.finished_at, now)} in {duration(job.elapsed_s(now))}. {plain(job.message)}")
        elif job.error:
            st.error(plain(job.error))
        if job.active and job.started_at:
            left = f" {time_left_text(job)}" if job.kind == JobKind.TRAIN else ""
            st.caption(f"Running for {duration(job.elapsed_s(now))}.{left}")
        if show_log:
            with st.expander("Log", expanded=False):
                st.code(runner.tail_log(job) or "(no output yet)", language=None)


def time_left_text(job: Job) -> str:
    """E.g. "About 5 min left (4–6 min), from the first epoch of this run." (counted down between epochs)."""
    left = call(time_left, job, utcnow(), action="Estimating the time left")
    if left is None:
        return "The time left shows once the first epoch has ended (it is measured from this run's own epochs)."
    if left.seconds <= 0:
        return f"It should end any moment ({left.basis}; the estimate has run out)."
    span = rough_range(left.time.low, left.time.high)
    return f"{rough_duration(left.seconds).capitalize()} left ({span}), {left.basis}."


def rerun_when_finished(active_ids: set[int], *, key: str) -> None:
    """Rerun the whole page once a job this watcher saw active has finished, so what it changed shows everywhere.

    Call it from a polling fragment with the ids of the jobs active now; the first call only remembers them.
    """
    state_key = f"_jobs_watched_{key}"
    before: set[int] | None = st.session_state.get(state_key)
    st.session_state[state_key] = set(active_ids)
    if before is not None and before - active_ids:
        st.rerun(scope="app")


@st.fragment(run_every="2s")
def jobs_panel(kind: str | None = None, limit: int = 8, key: str = "jobs", empty: str = "") -> None:
    """Live list of the newest jobs (all kinds or one), refreshed every 2 s; the page reruns when one finishes.

    `empty` is what to say when there is none (a one-kind panel names its kind: "no jobs yet" would be wrong
    after other jobs ran).
    """
    keep_runner_healthy()
    rerun_when_finished({j.id for j in list_jobs(limit=100, kind=kind, active_only=True)}, key=key)
    jobs = list_jobs(limit=limit, kind=kind)
    if not jobs:
        st.caption(empty or "No jobs yet. Jobs appear here when you import data, validate, train or export.")
        return
    for job in jobs:
        render_job(job, key=key)
