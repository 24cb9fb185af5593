"""One training job: the job picker, live epochs while it runs, then its results, failure advice and tracking."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from backend.core.clock import utcnow
from backend.core.enums import FailureCode, JobStatus
from backend.runtime import runner
from backend.runtime.views import get_job, keep_runner_healthy
from backend.store.records import Job, Run
from backend.store.summaries import ClassScore, EpochRow
from backend.training.service import can_resume, offline_session_for, run_for_job, trained_all_epochs
from backend.training.tasks import planned_epochs, resume_training
from backend.training.tracking import TrackingMode, import_command
from ui.widgets.calls import call
from ui.widgets.charts import show_chart
from ui.widgets.jobs import STATUS_ICONS, time_left_text
from ui.widgets.shell import current_actor
from ui.widgets.text import ago, duration, plain, plural, score_text

JOB_KEY = "train_job"
PENDING_JOB_KEY = "train_pending_job"
LOSS_SERIES = {"box_loss": "box loss", "cls_loss": "class loss", "dfl_loss": "DFL loss"}
SCORE_SERIES = {"map50": "mAP50", "map50_95": "mAP50-95", "precision": "precision", "recall": "recall"}


def show_job(job_id: int) -> None:
    """Make the live view show this job on the next run (safe to call after the job picker has rendered)."""
    st.session_state[PENDING_JOB_KEY] = job_id


def job_picker_ui(jobs: list[Job]) -> int | None:
    """Pick one of the recent training jobs (the one just launched is pre-selected); returns its id."""
    if not jobs:
        st.caption("No training yet. Start one above; its progress shows here.")
        return None
    ids = [job.id for job in jobs]
    pending = st.session_state.pop(PENDING_JOB_KEY, None)
    if pending in ids:
        st.session_state[JOB_KEY] = pending
    if st.session_state.get(JOB_KEY) not in ids:
        st.session_state[JOB_KEY] = ids[0]
    by_id = {job.id: job for job in jobs}
    return st.selectbox(
        "Training job",
        ids,
        key=JOB_KEY,
        # Fixed text per job (no status): an option's text must not change between reruns.
        format_func=lambda jid: f"job {jid} · {by_id[jid].title or 'Train'} · {by_id[jid].created_at:%m-%d %H:%M}",
        help="Come back to any recent training run.",
    )


def job_view(job_id: int) -> None:
    """A training job: live while it runs (refreshed every 2 s), its results or error once it ended."""
    job = call(get_job, job_id, action="Reading the job")
    if job is None:
        return
    if job.active:
        live_run(job_id)
    else:
        finished_ui(job, call(run_for_job, job_id, action="Reading the run"))


def _head(job: Job) -> None:
    head, side = st.columns([5, 1], vertical_alignment="center")
    head.markdown(
        f"{STATUS_ICONS.get(job.status, '')} **{plain(job.title or 'Training')}** · job {job.id} · {job.status}"
    )
    if job.active:
        if job.cancel_requested_at:
            side.caption("Cancelling…")
        elif (
            side.button("Cancel", key=f"train-cancel-{job.id}", icon="⏹️", help="Stop training")
            and call(runner.cancel, job.id, actor=current_actor(), action="Cancelling") is not None
        ):
            st.toast(f"Cancelling job {job.id}; finished epochs are kept in last.pt")
            st.rerun()  # show the new state at once, on the whole page


def _epochs(job: Job, run: Run | None) -> list[EpochRow]:
    live = job.live_epochs
    history = run.epochs if run is not None else []
    return history if len(history) >= len(live) else live


def _planned_epochs(job: Job, epochs: list[EpochRow]) -> int:
    if epochs and epochs[-1].epochs:
        return epochs[-1].epochs
    return planned_epochs(job) or 0


@st.fragment(run_every="2s")
def live_run(job_id: int) -> None:
    """Live view of a running training job: epoch x of N, progress, per-epoch charts, log tail and cancel."""
    keep_runner_healthy()
    job = call(get_job, job_id, action="Reading the job")
    if job is None:
        return
    if not job.active:
        st.rerun()  # the whole page redraws with the results (and the runs table) once the job ends
    with st.container(border=True):
        _head(job)
        epochs = job.live_epochs
        total = _planned_epochs(job, epochs)
        if job.status == JobStatus.QUEUED:
            st.info(
                "Waiting for a free training slot: another training job is running (one trains at a time).",
                icon="⏱️",
            )
        else:
            done = len(epochs)
            current = min(done + 1, total) if total else done + 1
            st.markdown(f"**Epoch {current} of {total or '?'}** · {done} finished")
            st.progress(min(max(job.progress or 0.0, 0.0), 1.0), text=plain(job.message) or "Starting…")
            if job.started_at:
                st.caption(f"Running for {duration(job.elapsed_s(utcnow()))}. {time_left_text(job)}")
        if epochs:
            last = epochs[-1]
            m1, m2, m3 = st.columns(3)
            m1.metric("mAP50 (last epoch)", score_text(last.map50))
            m2.metric("mAP50-95 (last epoch)", score_text(last.map50_95))
            m3.metric("Box loss (last epoch)", score_text(last.box_loss))
            epoch_charts(epochs)
        with st.expander("Log (last lines)", expanded=not epochs):
            st.code(runner.tail_log(job, 15) or "(no output yet)", language=None)


def epochs_frame(epochs: list[EpochRow], series: dict[str, str]) -> pd.DataFrame:
    """Long-form (epoch, series, value) rows of the named per-epoch values, for charts."""
    rows = [
        {"epoch": e.epoch, "series": label, "value": e.value(key)}
        for e in epochs
        for key, label in series.items()
        if e.value(key) is not None
    ]
    return pd.DataFrame(rows, columns=["epoch", "series", "value"])


def _line_chart(frame: pd.DataFrame, title: str) -> alt.Chart:
    return (
        alt.Chart(frame, title=title)
        .mark_line(point=True)
        .encode(
            x=alt.X("epoch:Q", title="epoch", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y("value:Q", title=None),
            color=alt.Color("series:N", title=None, legend=alt.Legend(orient="right")),
            tooltip=["epoch", "series", alt.Tooltip("value:Q", format=".3f")],
        )
        .properties(height=260)
    )


def epoch_charts(epochs: list[EpochRow]) -> None:
    """Losses and validation scores per epoch, side by side."""
    left, right = st.columns(2)
    losses = epochs_frame(epochs, LOSS_SERIES)
    scores = epochs_frame(epochs, SCORE_SERIES)
    if not losses.empty:
        with left:
            show_chart(_line_chart(losses, "Training losses (lower is better)"))
    if not scores.empty:
        with right:
            show_chart(_line_chart(scores, "Scores on validation images (higher is better)"))


# Which plain-language advice fits a failed run, by the failure code its job recorded (never by message text).
ADVICE: dict[str, str] = {
    FailureCode.OUT_OF_MEMORY: "memory",
    FailureCode.WORKER_LOST: "memory",  # killed from outside: on a small machine the out-of-memory killer
    FailureCode.WEIGHTS_UNAVAILABLE: "weights",
    FailureCode.DATASET: "data",
}


def failure_ui(job: Job, run: Run | None) -> None:
    """A failed or cancelled run: its plain error, what to do about it, and Resume when last.pt exists."""
    error = job.error or ("Cancelled." if job.status == JobStatus.CANCELLED else "The job failed without a message.")
    if job.status == JobStatus.CANCELLED:
        st.warning(plain(error), icon="✖️")
    else:
        st.error(plain(error), icon="⛔")
    kind = ADVICE.get(job.failure_code or "") if job.status == JobStatus.FAILED else None
    if kind == "memory":
        st.info(
            "**Out of memory.** Lower the batch size (Custom preset → Batch) or the image size and start again, "
            "or resume: the finished epochs are kept.",
            icon="🧠",
        )
    elif kind == "weights":
        st.info(
            "**Weights cannot be downloaded offline.** Pick a model ending in `.yaml` (for example yolov8n.yaml, "
            "trained from scratch, no download), or give the path of a `.pt` file on this machine.",
            icon="📴",
        )
    elif kind == "data":
        st.info("**The data could not be used.** The Datasets page shows what is wrong.", icon="🗂️")
        st.page_link(
            "pages/datasets.py", label="Open the validation report on Datasets", icon=":material/photo_library:"
        )
    if run is not None and can_resume(run):
        done = len(run.history or [])
        st.caption(f"{plural(done, 'epoch')} finished before it stopped; training can continue from there (last.pt).")
        if st.button("Resume from last epoch", key=f"train-resume-{run.id}", icon="🔁", type="primary"):
            new_job = call(resume_training, run.id, actor=current_actor(), action="Resuming")
            if new_job is not None:
                show_job(new_job)
                st.rerun()
    elif run is not None and trained_all_epochs(run):
        st.caption("It stopped after its last epoch, while scoring the model; start it again above.")
    elif job.status in (JobStatus.FAILED, JobStatus.CANCELLED):
        st.caption("It stopped before its first epoch ended, so there is nothing to resume; start it again above.")


def finished_ui(job: Job, run: Run | None) -> None:
    """A training job that ended: results when it succeeded, the error and Resume otherwise."""
    with st.container(border=True):
        _head(job)
        when = f"Ended {ago(job.finished_at)}"
        if job.started_at:
            when += f" after {duration(job.elapsed_s(utcnow()))}"
        st.caption(when + (f" · run **{plain(run.name)}**" if run else ""))
        if job.status == JobStatus.SUCCEEDED and run is not None:
            results_ui(run)
        else:
            failure_ui(job, run)
            epochs = _epochs(job, run)
            if epochs:
                epoch_charts(epochs)
        with st.expander("Log (last lines)", expanded=job.status == JobStatus.FAILED):
            st.code(runner.tail_log(job, 30) or "(no output)", language=None)


def results_ui(run: Run) -> None:
    """Final scores, per-epoch and per-class charts, and where the run is tracked."""
    ev = run.scores
    facts = run.facts
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("mAP50", score_text(ev.map50), help="Share of food found at a loose box overlap (0–1).")
    c2.metric("mAP50-95", score_text(ev.map50_95), help="The same, averaged over strict box overlaps.")
    c3.metric("Precision", score_text(ev.precision), help="Of the boxes it draws, the share that are right.")
    c4.metric("Recall", score_text(ev.recall), help="Of the food in the pictures, the share it finds.")
    latency = ev.latency_ms
    c5.metric("Latency", f"{latency:.0f} ms" if latency is not None else "—", help="Per image, CPU.")
    epochs_done = facts.epochs_completed if facts.epochs_completed is not None else len(run.history)
    st.caption(
        f"Scored on the validation images. {epochs_done} epochs on "
        f"{facts.device or '?'} in {duration(run.duration_s)}. The model is now a candidate on the "
        "Models page."
    )
    try_col, compare_col = st.columns(2)
    try_col.page_link("pages/detect.py", label="Try it on Detect", icon=":material/photo_camera:")
    compare_col.page_link("pages/models.py", label="Compare on Models", icon=":material/emoji_events:")
    if run.history:
        epoch_charts(run.epochs)
    per_class = per_class_frame(ev.per_class)
    if not per_class.empty:
        chart = (
            alt.Chart(per_class, title="Average precision per class (AP50)")
            .mark_bar()
            .encode(
                x=alt.X("AP50:Q", scale=alt.Scale(domain=[0, 1])),
                y=alt.Y("class:N", sort="-x", title=None),
                color=alt.Color("AP50:Q", scale=alt.Scale(scheme="redyellowgreen", domain=[0, 1]), legend=None),
                tooltip=["class", alt.Tooltip("AP50:Q", format=".3f"), alt.Tooltip("AP50-95:Q", format=".3f")],
            )
            .properties(height=max(120, 30 * len(per_class)))
        )
        show_chart(chart)
    tracking_ui(run)


def per_class_frame(per_class: dict[str, ClassScore]) -> pd.DataFrame:
    """One row per class with its AP50 and AP50-95."""
    rows = [{"class": name, "AP50": v.ap50, "AP50-95": v.ap50_95} for name, v in per_class.items()]
    return pd.DataFrame(rows, columns=["class", "AP50", "AP50-95"])


def tracking_ui(run: Run) -> None:
    """Where the run is tracked in ClearML: the offline session with its import command, or the web link."""
    st.markdown("**Experiment tracking (ClearML)**")
    tracking = run.tracking_info
    mode = tracking.mode
    if mode == TrackingMode.OFFLINE:
        session = call(offline_session_for, run, action="Reading ClearML sessions")
        st.markdown(
            "Logged as a ClearML **offline session** in the workspace: parameters, per-epoch scalars, the "
            "evaluation and the weights. Import it into a ClearML server to compare it with other runs there."
        )
        if session is not None:
            st.markdown(f"Session file: {plain(session.zip_path or session.folder)}")
            st.code(import_command(session), language="bash")
            st.caption("Run this where `clearml-init` has set up the server's address and credentials.")
        else:
            st.caption(f"The session ({plain(tracking.session_zip or 'no file')}) is no longer in the workspace.")
    elif mode == TrackingMode.ONLINE:
        url = tracking.web_url
        st.markdown(f"Logged to the ClearML server as task `{tracking.task_id or '?'}`.")
        if url:
            st.link_button("Open in ClearML", url, icon="↗️")
    else:
        st.caption("Tracking was off for this run.")
    if tracking.note:
        st.caption(plain(tracking.note))
