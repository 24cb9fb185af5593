"""Widgets of the Datasets page: version picker, overview charts, quality, gallery and import forms.

`*_ui()` functions draw widgets and return the user's choices; `*_frame()` and `_chart_*` helpers only shape data
for display. All work happens in `backend` (reads) or in background jobs (`backend.runtime.runner.submit`).
"""

from __future__ import annotations

import io
import itertools
import math
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from backend.core.errors import PlateOpsError
from backend.core.vocab import color_for
from backend.data.datasets import (
    Box,
    GalleryImage,
    check_dataset_name,
    check_descriptions,
    check_import_source,
    gallery,
    prepare_report,
    save_upload,
    send_to_review,
    version_image_sizes,
)
from backend.imaging.drawing import draw_boxes, image_size, letterbox, to_pixels
from backend.runtime import runner
from backend.runtime.views import get_job, keep_runner_healthy
from backend.store.records import DatasetVersion
from ui.common import ago, call
from ui.jobs_panel import render_job

TABS = (
    ":material/insights: Overview",
    ":material/health_and_safety: Quality",
    ":material/photo_library: Gallery",
    ":material/upload_file: Import",
)
PAGE_SIZE = 12
GRID_COLUMNS = 4
THUMB_SIDE = 400
DETAIL_SIDE = 900
# Material icons render everywhere (they ship with Streamlit); emoji need an emoji font on the viewer's machine.
SEVERITY_ICONS = {
    "error": ":red[:material/error:]",
    "warning": ":orange[:material/warning:]",
    "info": ":blue[:material/info:]",
}
SEVERITY_COLORS = {"error": "#c0392b", "warning": "#e6a23c", "info": "#5b8def"}
SPLIT_COLORS = {"train": "#e4572e", "val": "#2e86ab", "test": "#76b041", "excluded": "#9e9e9e"}
STATUS_BADGES = {
    "passed": ("Passed all checks", ":material/check_circle:", "green"),
    "warnings": ("Warnings", ":material/warning:", "orange"),
    "errors": ("Errors — fix before training", ":material/error:", "red"),
    "not_checked": ("Not validated yet", ":material/help:", "gray"),
}

VERDICTS = {
    "passed": ":green[:material/check_circle:] **Every image passed every check.**",
    "warnings": ":orange[:material/warning:] **Some images deserve a look** — training works, but may learn less.",
    "errors": ":red[:material/error:] **Some images have errors** — fix or remove them before training.",
    "not_checked": ":gray[:material/help:] **Not validated yet.**",
}


# --- picking a version ----------------------------------------------------------------------------------------


def _select_version(dataset: str, version_id: int) -> None:
    """Button callback: show this version in the pickers (on its Overview tab) on the next run."""
    st.session_state["ds_pick_dataset"] = dataset
    st.session_state["ds_pick_version"] = version_id
    st.session_state["ds_tab"] = TABS[0]


def version_picker_ui(entries: list[tuple[str, DatasetVersion]]) -> DatasetVersion:
    """Dataset and version selectboxes (newest first); returns the chosen version."""
    by_dataset: dict[str, list[DatasetVersion]] = {}
    for name, version in entries:  # entries come newest first, so datasets are ordered by their newest version
        by_dataset.setdefault(name, []).append(version)
    if st.session_state.get("ds_pick_dataset") not in by_dataset:
        st.session_state["ds_pick_dataset"] = next(iter(by_dataset))
    left, right = st.columns([2, 3])
    dataset = left.selectbox("Dataset", list(by_dataset), key="ds_pick_dataset")
    versions = {v.id: v for v in by_dataset[dataset]}
    if st.session_state.get("ds_pick_version") not in versions:
        st.session_state["ds_pick_version"] = next(iter(versions))
    chosen = right.selectbox(
        "Version",
        list(versions),
        key="ds_pick_version",
        format_func=lambda vid: _version_option(versions[vid]),
        help="Versions never change; editing or re-importing makes a new one.",
    )
    return versions[chosen]


def _version_option(version: DatasetVersion) -> str:
    images = version.stats.get("images", "?")
    note = f" — {version.message}" if version.message else ""
    # No "3 min ago" here: an option's text must not change between reruns, or the widget forgets the choice.
    return f"{version.label} · {images} images · {version.created_at:%Y-%m-%d %H:%M}{note}"[:110]


def status_badge(version: DatasetVersion) -> None:
    """A coloured badge for the version's validation status."""
    label, icon, color = STATUS_BADGES.get(version.validation_status, (version.validation_status, None, "gray"))
    st.badge(label, icon=icon, color=color)


def version_header(version: DatasetVersion, parent: DatasetVersion | None) -> None:
    """Who made the version, when, from what, and its DVC content hash."""
    with st.container(border=True):
        top, badge = st.columns([5, 2], vertical_alignment="center")
        top.markdown(f"**{version.label}** · {version.message or 'no message'}")
        with badge:
            status_badge(version)
        parent_text = parent.label if parent else "none (imported)"
        content = f"`{version.content_hash[:12]}`" if version.content_hash else "not frozen"
        st.caption(
            f"By {version.author or 'unknown'} · created {ago(version.created_at)} "
            f"({version.created_at:%Y-%m-%d %H:%M} UTC) · parent: {parent_text} · DVC content hash: {content}"
        )


# --- cached reads ---------------------------------------------------------------------------------------------


@st.cache_data(ttl=120, show_spinner=False, max_entries=8)
def _gallery(version_id: int, marker: str) -> tuple[list[str], list[GalleryImage]]:
    """The version's images and boxes; `marker` changes when a new validation stores new issues."""
    del marker  # cache key only
    return gallery(version_id)


def load_gallery(version: DatasetVersion) -> tuple[list[str], list[GalleryImage]] | None:
    """Class names and images of a version (cached), or None after showing why it could not be read."""
    marker = f"{version.validation_status}:{sorted(version.validation_summary.get('issues_by_check', {}).items())}"
    return call(_gallery, version.id, marker, action="Reading this version")


@st.cache_data(ttl=600, show_spinner=False, max_entries=8)
def _image_sizes(version_id: int) -> list[tuple[str, str, int, int]]:
    return version_image_sizes(version_id)


@st.cache_data(ttl=600, show_spinner=False, max_entries=8)
def _prepare_report(version_id: int) -> dict[str, Any]:
    return prepare_report(version_id)


@st.cache_data(show_spinner=False, max_entries=2000)
def _rendered(
    path: str, mtime_ns: int, size: int, boxes: tuple[tuple[Any, ...], ...], max_side: int
) -> tuple[bytes, int, int] | str:
    """JPEG bytes of the image with its boxes and the full-size width and height, or why it cannot be shown.

    Keyed by (path, mtime, size): a changed file draws again; boxes are part of the key too.
    """
    del mtime_ns, size  # cache key only
    try:
        picture = draw_boxes(path, [Box(*b) for b in boxes], max_side=max_side, labels=True)
        width, height = image_size(path)
    except PlateOpsError as exc:
        return str(exc)
    if max_side <= THUMB_SIDE:  # tiles share one shape so the grid lines up
        picture = letterbox(picture, max_side, max_side * 3 // 4)
    buffer = io.BytesIO()
    picture.save(buffer, format="JPEG", quality=85)
    return buffer.getvalue(), width, height


def render_image(img: GalleryImage, max_side: int) -> tuple[bytes, int, int] | str:
    """The image drawn with its boxes (cached by path, mtime and size), or a plain reason it cannot be shown."""
    if not img.path:
        return "Left out at import, so there is no picture."
    try:
        stat = Path(img.path).stat()
    except OSError:
        return "The file is missing from the version folder."
    boxes = tuple((b.class_id, b.name, b.cx, b.cy, b.w, b.h) for b in img.boxes)
    return _rendered(img.path, stat.st_mtime_ns, stat.st_size, boxes, max_side)


# --- jobs -----------------------------------------------------------------------------------------------------


@st.fragment(run_every="2s")
def watch_job(job_id: int, key: str) -> None:
    """Live progress of one job (the shared job card); refreshes the whole page once when it finishes.

    When the job made a dataset version, a success message names it with a button to show it.
    """
    keep_runner_healthy()
    job = call(get_job, job_id, action="Reading the job")
    if job is None:
        return
    render_job(job, key=key, show_log=not job.active)
    seen = st.session_state.setdefault("ds_finished_jobs", set())
    if job.active:
        return
    if job_id not in seen:
        seen.add(job_id)
        if st.session_state.get("ds_rerun_on_finish", True):
            st.rerun()  # the new version or fresh validation must show outside this fragment too
    result = job.result or {}
    if job.status == "succeeded" and result.get("version_id"):
        _version_ready(int(result["version_id"]), key)


def _version_ready(version_id: int, key: str) -> None:
    from backend.data.datasets import list_versions_with_datasets

    entries = call(list_versions_with_datasets, action="Reading datasets") or []
    found = next(((name, v) for name, v in entries if v.id == version_id), None)
    if found is None:
        return
    name, version = found
    images = version.stats.get("images", "?")
    st.success(f"Done: **{name} {version.label}** is ready with {images} images.", icon=":material/check_circle:")
    st.button(
        f"Show {name} {version.label}",
        key=f"{key}-show-{version_id}",
        on_click=_select_version,
        args=(name, version_id),
    )


def remember_job(slot: str, job_id: int) -> None:
    """Keep the job a form started, so its progress shows after the rerun."""
    st.session_state.setdefault("ds_jobs", {})[slot] = job_id


def remembered_job(slot: str) -> int | None:
    """The job a form in this session started last, if any."""
    return st.session_state.get("ds_jobs", {}).get(slot)


# --- overview -------------------------------------------------------------------------------------------------


def overview_ui(version: DatasetVersion, names: list[str], images: list[GalleryImage]) -> None:
    """Metrics, the charts of what the version holds, and the pre-flight report."""
    kept = [img for img in images if img.split != "excluded"]
    splits = Counter(img.split for img in kept)
    boxes = sum(len(img.boxes) for img in kept)
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("Images", len(kept))
    c2.metric("Boxes", boxes)
    c3.metric("Classes", len(names))
    c4.metric("Train / val", f"{splits.get('train', 0)} / {splits.get('val', 0)}")
    c5.metric("Without boxes", sum(1 for img in kept if not img.boxes), help="Background images teach 'no food here'")
    if not kept:
        st.info("This version holds no readable images.")
        return

    left, right = st.columns(2)
    with left, st.container(border=True):
        st.markdown("**Boxes per class** — is any food rare, or missing from a split?")
        show_chart(class_chart(class_frame(kept)))
    with right, st.container(border=True):
        st.markdown("**Boxes per image** — how crowded the plates are")
        show_chart(boxes_per_image_chart(kept))
    left, right = st.columns(2)
    with left, st.container(border=True):
        st.markdown("**Box size** — share of the image a box covers (small boxes are harder)")
        show_chart(area_chart(kept))
    with right, st.container(border=True):
        st.markdown("**Image sizes** — width × height in pixels")
        sizes = call(_image_sizes, version.id, action="Reading image sizes")
        if sizes:
            show_chart(size_chart(sizes))
        else:
            st.caption("No readable image sizes.")

    report = call(_prepare_report, version.id, action="Reading the pre-flight report")
    if report:
        preflight_ui(report)


def show_chart(chart: alt.Chart) -> None:
    """Draw an altair chart full width at the height it asks for (Streamlit would otherwise pick its own)."""
    height = getattr(chart, "height", None)
    st.altair_chart(chart, width="stretch", height=height if isinstance(height, int) else "content")


def class_frame(images: list[GalleryImage]) -> pd.DataFrame:
    """Boxes per (class, split)."""
    counts = Counter((b.name, img.split) for img in images for b in img.boxes)
    return pd.DataFrame(
        [{"class": c, "split": s, "boxes": n} for (c, s), n in counts.items()], columns=["class", "split", "boxes"]
    )


def class_chart(frame: pd.DataFrame) -> alt.Chart:
    """Horizontal stacked bars: boxes per class, coloured by split, biggest class on top."""
    splits = sorted(frame["split"].unique(), key=lambda s: list(SPLIT_COLORS).index(s) if s in SPLIT_COLORS else 99)
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("sum(boxes):Q", title="boxes"),
            y=alt.Y("class:N", sort="-x", title=None, axis=alt.Axis(labelLimit=200, labelOverlap=False)),
            color=alt.Color(
                "split:N",
                scale=alt.Scale(domain=splits, range=[SPLIT_COLORS.get(s, "#999") for s in splits]),
                legend=alt.Legend(orient="bottom", title=None),
            ),
            order=alt.Order("split:N", sort="descending"),
            tooltip=["class", "split", "boxes"],
        )
        .properties(height=80 + 24 * frame["class"].nunique())  # Streamlit fits axes and legend inside the height
    )


def boxes_per_image_chart(images: list[GalleryImage]) -> alt.Chart:
    """Bars: how many images have 0, 1, 2… boxes."""
    counts = Counter(len(img.boxes) for img in images)
    frame = pd.DataFrame({"boxes in image": list(range(max(counts) + 1))})
    frame["images"] = frame["boxes in image"].map(lambda n: counts.get(n, 0))
    return (
        alt.Chart(frame)
        .mark_bar(color="#e4572e")
        .encode(
            x=alt.X("boxes in image:O", title="boxes in the image", axis=alt.Axis(labelAngle=0)),
            y=alt.Y("images:Q", title="images"),
            tooltip=["boxes in image", "images"],
        )
        .properties(height=240)
    )


def area_chart(images: list[GalleryImage]) -> alt.Chart:
    """Histogram of box area as a percentage of the image, on a log scale (tiny boxes stand out)."""
    areas = [max(b.w * b.h, 1e-6) * 100 for img in images for b in img.boxes]
    edges = [0, 0.5, 1, 2, 5, 10, 20, 100]
    labels = ["< 0.5%", *(f"{lo:g}–{hi:g}%" for lo, hi in itertools.pairwise(edges[1:-1])), "> 20%"]
    binned = pd.cut(pd.Series(areas, dtype=float), bins=edges, labels=labels, include_lowest=True)
    frame = binned.value_counts().reindex(labels, fill_value=0).rename_axis("area").reset_index(name="boxes")
    return (
        alt.Chart(frame)
        .mark_bar(color="#2e86ab")
        .encode(
            x=alt.X(
                "area:N", sort=labels, title="box area, % of the image", axis=alt.Axis(labelAngle=0, labelOverlap=False)
            ),
            y=alt.Y("boxes:Q", title="boxes"),
            tooltip=["area", "boxes"],
        )
        .properties(height=240)
    )


def size_chart(sizes: list[tuple[str, str, int, int]]) -> alt.Chart:
    """Scatter of image width against height, coloured by split."""
    frame = pd.DataFrame(sizes, columns=["file", "split", "width", "height"])
    splits = sorted(frame["split"].unique())
    return (
        alt.Chart(frame)
        .mark_circle(size=48, opacity=0.6)
        .encode(
            x=alt.X("width:Q", title="width (px)", scale=alt.Scale(zero=False)),
            y=alt.Y("height:Q", title="height (px)", scale=alt.Scale(zero=False)),
            color=alt.Color(
                "split:N",
                scale=alt.Scale(domain=splits, range=[SPLIT_COLORS.get(s, "#999") for s in splits]),
                legend=alt.Legend(orient="bottom", title=None),
            ),
            tooltip=["file", "split", "width", "height"],
        )
        .properties(height=240)
    )


COUNT_LABELS = {
    "images_listed": "Images listed in the annotations",
    "images": "Images kept",
    "train": "Training images",
    "val": "Validation images",
    "test": "Test images",
    "boxes": "Boxes kept",
    "classes": "Classes",
    "background_images": "Images without boxes",
    "left_out_images": "Images left out (missing or unreadable)",
    "annotations": "Annotations read",
    "boxes_clipped": "Boxes clipped to the image border",
    "annotations_dropped": "Annotations dropped (unusable)",
}


def preflight_ui(report: dict[str, Any]) -> None:
    """The pre-flight report of the conversion: counts, class-id mapping, per-file table."""
    st.subheader("Pre-flight report", help="What the import did when it converted the data to YOLO format.")
    fmt = str(report.get("format", "?")).upper()
    share, seed = report.get("val_fraction", "?"), report.get("seed", "?")
    st.caption(f"Converted from {fmt} · validation share {share} · seed {seed}")
    left, right = st.columns(2)
    counts = report.get("counts", {})
    with left:
        st.markdown("**Counts**")
        rows = [{"what": COUNT_LABELS.get(k, k.replace("_", " ")), "count": v} for k, v in counts.items()]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", height=_table_height(len(rows)))
    with right:
        st.markdown("**Class ids** — source id → YOLO id")
        class_map = report.get("class_map", [])
        if class_map:
            frame = pd.DataFrame(class_map).rename(
                columns={"coco_id": "source id", "class_id": "YOLO id", "name": "class"}
            )
            st.dataframe(frame, hide_index=True, width="stretch", height=_table_height(len(frame)))
        else:
            st.caption("The source already used YOLO class ids.")
    files = report.get("files", [])
    with st.expander(f"Every file ({len(files)})"):
        if files:
            frame = pd.DataFrame(files)
            if "issues" in frame:
                frame["issues"] = frame["issues"].map(_issues_text)
            st.dataframe(frame, hide_index=True, width="stretch")
        else:
            st.caption("No per-file records.")


def _table_height(rows: int, limit: int = 16) -> int:
    """Pixel height that shows up to `limit` rows of a st.dataframe without scrolling."""
    return 38 + 35 * min(rows, limit)


def _issues_text(issues: object) -> str:
    if not isinstance(issues, list):
        return str(issues or "")
    parts = [i.get("check", str(i)) if isinstance(i, dict) else str(i) for i in issues]
    return ", ".join(parts)


# --- quality --------------------------------------------------------------------------------------------------


def issue_frame(images: list[GalleryImage]) -> pd.DataFrame:
    """One row per stored issue: file, split, check, severity, message."""
    rows = [
        {"file": img.file, "split": img.split, "check": check, "severity": severity, "message": message}
        for img in images
        for check, severity, message in img.issues
    ]
    return pd.DataFrame(rows, columns=["file", "split", "check", "severity", "message"])


def quality_ui(version: DatasetVersion, images: list[GalleryImage]) -> None:
    """Validation summary, what each check means, a filterable issue table, revalidation and review hand-off."""
    summary = version.validation_summary
    by_sev = summary.get("by_severity") or summary.get("issues_by_severity") or {}
    top, action = st.columns([4, 1], vertical_alignment="bottom")
    with top:
        st.markdown(VERDICTS.get(version.validation_status, version.validation_status))
        line = summary_line(version)
        if line:
            st.caption(line)
    with action:
        validate_clicked = st.button(
            "Validate again", key="ds_validate", icon=":material/refresh:", help="Re-run every data-quality check"
        )
    if validate_clicked:
        job_id = call(
            runner.submit,
            "validate",
            {"version_id": version.id},
            title=f"Validate {version.label}",
            action="Starting validation",
        )
        if job_id is not None:
            remember_job(f"validate-{version.id}", job_id)
            st.toast(f"Validation started (job {job_id}).")
    job_id = remembered_job(f"validate-{version.id}")
    if job_id is not None:
        watch_job(job_id, key=f"ds-validate-{version.id}")

    c1, c2, c3 = st.columns(3)
    c1.metric(f"{SEVERITY_ICONS['error']} Errors", by_sev.get("error", 0), help="Fix these before training")
    c2.metric(f"{SEVERITY_ICONS['warning']} Warnings", by_sev.get("warning", 0), help="Worth a look")
    c3.metric(f"{SEVERITY_ICONS['info']} Notes", by_sev.get("info", 0), help="Things the import did for you")

    descriptions = check_descriptions()
    by_check = summary.get("issues_by_check", {})
    if by_check:
        frame = pd.DataFrame(
            [
                {
                    "check": c,
                    "issues": n,
                    "severity": descriptions.get(c, ("warning", ""))[0],
                    "meaning": descriptions.get(c, ("", ""))[1],
                }
                for c, n in by_check.items()
                if n
            ]
        )
        if not frame.empty:
            show_chart(check_chart(frame))
    with st.expander("What each check looks for", expanded=not by_check):
        rows = [
            {"check": c, "severity": sev, "found here": by_check.get(c, 0), "what it means": text}
            for c, (sev, text) in descriptions.items()
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", height=_table_height(len(rows)))

    issues = issue_frame(images)
    st.subheader("Issues")
    if issues.empty:
        if version.validation_status == "not_checked":
            st.info("This version has not been validated yet. Press **Validate again** to check it.")
        else:
            st.success("No issues found: every image passed every check.")
        return
    filtered = issue_filters_ui(issues)
    st.dataframe(
        filtered,
        hide_index=True,
        width="stretch",
        column_config={"message": st.column_config.TextColumn("message", width="large")},
    )
    review_ui(version, filtered)


def summary_line(version: DatasetVersion) -> str:
    """'42 images checked in 0.9 s (46 images/s)' from the stored summary, or ''."""
    summary = version.validation_summary
    if "images" not in summary:
        return ""
    seconds = summary.get("seconds")
    speed = f" in {seconds:.1f} s ({summary.get('images_per_second', '?')} images/s)" if seconds is not None else ""
    return f"{summary['images']} images checked{speed}."


def check_chart(frame: pd.DataFrame) -> alt.Chart:
    """Horizontal bars: issues per check, coloured by severity."""
    severities = [s for s in SEVERITY_COLORS if s in set(frame["severity"])]
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("issues:Q", title="issues", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y("check:N", sort="-x", title=None, axis=alt.Axis(labelLimit=220, labelOverlap=False)),
            color=alt.Color(
                "severity:N",
                scale=alt.Scale(domain=severities, range=[SEVERITY_COLORS[s] for s in severities]),
                legend=alt.Legend(orient="bottom", title=None),
            ),
            tooltip=["check", "severity", "issues", "meaning"],
        )
        .properties(height=90 + 26 * len(frame))
    )


def issue_filters_ui(issues: pd.DataFrame) -> pd.DataFrame:
    """Severity, check and file-name filters over the issue table; returns the rows that match."""
    c1, c2, c3 = st.columns([1, 2, 2])
    severities = c1.multiselect(
        "Severity",
        [s for s in SEVERITY_COLORS if s in set(issues["severity"])],
        key="ds_issue_severity",
        placeholder="All",
    )
    checks = c2.multiselect("Check", sorted(issues["check"].unique()), key="ds_issue_checks", placeholder="All")
    text = c3.text_input("File name contains", key="ds_issue_text", placeholder="e.g. 000123")
    mask = pd.Series(True, index=issues.index)
    if severities:
        mask &= issues["severity"].isin(severities)
    if checks:
        mask &= issues["check"].isin(checks)
    if text.strip():
        mask &= issues["file"].str.contains(text.strip(), case=False, regex=False)
    filtered = issues[mask]
    st.caption(f"{len(filtered)} of {len(issues)} issues, in {filtered['file'].nunique()} images.")
    return filtered


def review_ui(version: DatasetVersion, filtered: pd.DataFrame) -> None:
    """Send the images of the filtered issues to the review queue (for the Annotate page)."""
    files = sorted(filtered["file"].unique())
    if not files:
        return
    with st.container(border=True):
        st.markdown("**Fix them on the Annotate page**")
        checks = ", ".join(sorted(filtered["check"].unique()))
        reason = st.text_input(
            "Reason (shown to the reviewer)", value=f"Validation: {checks}"[:200], key=f"ds_review_reason_{version.id}"
        )
        if st.button(
            f"Send {len(files)} flagged image(s) to the review queue", key="ds_send_review", icon=":material/outbox:"
        ):
            added = call(
                send_to_review, version.id, files, reason.strip() or "Flagged by validation", action="Sending to review"
            )
            if added is not None:
                st.success(f"{added} image(s) are now in the review queue.")
                st.page_link("pages/annotate.py", label="Open Annotate", icon=":material/edit_square:")


# --- gallery --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GalleryFilters:
    classes: list[str]
    splits: list[str]
    checks: list[str]


def gallery_filters_ui(names: list[str], images: list[GalleryImage]) -> GalleryFilters:
    """Class, split and check filters; returns the choices."""
    present = sorted({b.name for img in images for b in img.boxes}, key=lambda n: (n not in names, n))
    splits = [s for s in ("train", "val", "test", "excluded") if any(img.split == s for img in images)]
    checks = sorted({c for img in images for c, _, _ in img.issues})
    c1, c2, c3 = st.columns([3, 1, 2])
    classes = c1.multiselect(
        "Food",
        present,
        key="ds_gallery_classes",
        placeholder="Any food",
        help="Images with at least one box of these classes",
    )
    split_choice = c2.multiselect("Split", splits, key="ds_gallery_splits", placeholder="Any")
    check_choice = c3.multiselect(
        "Issue",
        checks,
        key="ds_gallery_checks",
        placeholder="Any or none",
        help="Images with any of these data-quality issues",
    )
    return GalleryFilters(classes, split_choice, check_choice)


def filter_images(images: list[GalleryImage], filters: GalleryFilters) -> list[GalleryImage]:
    """The images that match every chosen filter."""
    wanted = set(filters.classes)
    checks = set(filters.checks)
    return [
        img
        for img in images
        if (not wanted or wanted & img.classes)
        and (not filters.splits or img.split in filters.splits)
        and (not checks or checks & {c for c, _, _ in img.issues})
    ]


def _open_image(file: str) -> None:
    st.session_state["ds_open"] = file


def _close_image() -> None:
    st.session_state.pop("ds_open", None)


def gallery_ui(names: list[str], images: list[GalleryImage]) -> None:
    """Filters, the detail view of an opened image, and a paginated thumbnail grid."""
    filters = gallery_filters_ui(names, images)
    shown = filter_images(images, filters)
    opened = st.session_state.get("ds_open")
    detail = next((img for img in images if img.file == opened), None)
    if detail is not None:
        detail_ui(detail)
    if not shown:
        st.info("No image matches these filters.")
        return
    pages = math.ceil(len(shown) / PAGE_SIZE)
    if st.session_state.get("ds_gallery_page", 1) > pages:
        st.session_state["ds_gallery_page"] = pages
    info, pager = st.columns([4, 1], vertical_alignment="bottom")
    page = pager.number_input(f"Page (of {pages})", min_value=1, max_value=pages, step=1, key="ds_gallery_page")
    first = (int(page) - 1) * PAGE_SIZE
    chunk = shown[first : first + PAGE_SIZE]
    of_all = f" (of {len(images)} in the version)" if len(shown) < len(images) else ""
    info.caption(f"Showing {first + 1}–{first + len(chunk)} of {len(shown)} images{of_all}.")
    for row_start in range(0, len(chunk), GRID_COLUMNS):
        columns = st.columns(GRID_COLUMNS)
        for column, img in zip(columns, chunk[row_start : row_start + GRID_COLUMNS], strict=False):
            with column:
                thumbnail_ui(img)


def thumbnail_ui(img: GalleryImage) -> None:
    """One tile: picture with boxes, file name, split, box and issue counts, and an Open button."""
    with st.container(border=True):
        rendered = render_image(img, THUMB_SIDE)
        if isinstance(rendered, str):
            st.warning(rendered, icon=":material/hide_image:")
        else:
            st.image(rendered[0], width="stretch")
        st.markdown(f"**{img.file}**")
        issues = _issue_summary(img)
        st.caption(f"{img.split} · {len(img.boxes)} box(es){issues}")
        st.button(
            "Open", key=f"ds_open_{img.split}_{img.file}", on_click=_open_image, args=(img.file,), width="stretch"
        )


def _issue_summary(img: GalleryImage) -> str:
    if not img.issues:
        return ""
    worst = max(img.issues, key=lambda i: ("info", "warning", "error").index(i[1]) if i[1] in SEVERITY_ICONS else 0)
    return f" · {SEVERITY_ICONS.get(worst[1], '')} {', '.join(sorted({c for c, _, _ in img.issues}))}"


def detail_ui(img: GalleryImage) -> None:
    """A larger picture with its boxes, the box table in pixels and the image's issues."""
    with st.container(border=True):
        head, close = st.columns([6, 1], vertical_alignment="center")
        head.subheader(f":material/zoom_in: {img.file}")
        close.button("Close", key="ds_close", on_click=_close_image, icon=":material/close:", width="stretch")
        picture, side = st.columns([1, 1])
        rendered = render_image(img, DETAIL_SIDE)
        with picture:
            if isinstance(rendered, str):
                st.warning(rendered, icon=":material/hide_image:")
            else:
                st.image(rendered[0], width="stretch")
        with side:
            size = f" · {rendered[1]} × {rendered[2]} px" if not isinstance(rendered, str) else ""
            st.caption(f"Split: {img.split}{size}")
            st.markdown(f"**Boxes ({len(img.boxes)})**")
            if img.boxes and not isinstance(rendered, str):
                rows = [
                    {
                        "": "■",
                        "class": p.name,
                        "x1": p.x1,
                        "y1": p.y1,
                        "x2": p.x2,
                        "y2": p.y2,
                        "size": f"{p.width} × {p.height}",
                    }
                    for p in to_pixels(img.boxes, rendered[1], rendered[2])
                ]
                frame = pd.DataFrame(rows)
                st.dataframe(
                    frame.style.apply(lambda _col: [f"color: {color_for(n)}" for n in frame["class"]], subset=[""]),
                    hide_index=True,
                    width="stretch",
                )
            elif img.boxes:
                st.dataframe(
                    pd.DataFrame([{"class": b.name, "cx": b.cx, "cy": b.cy, "w": b.w, "h": b.h} for b in img.boxes]),
                    hide_index=True,
                )
            else:
                st.caption("No boxes: a background image.")
            st.markdown(f"**Issues ({len(img.issues)})**")
            if not img.issues:
                st.caption("None — this image passed every check.")
            for check, severity, message in img.issues:
                st.markdown(f"{SEVERITY_ICONS.get(severity, '•')} **{check}** — {message}")


# --- import ---------------------------------------------------------------------------------------------------

SOURCES = {
    "upload": "Upload a .zip",
    "server": "A folder or file on the server",
    "demo": "Demo food dataset",
}


def import_ui() -> None:
    """Import forms (upload, server path, demo) and the live progress of the job this session started."""
    source = (
        st.segmented_control(
            "Where is the data?", list(SOURCES), format_func=SOURCES.get, default="upload", key="ds_import_source"
        )
        or "upload"
    )
    if source == "upload":
        _upload_form()
    elif source == "server":
        _server_form()
    else:
        _demo_form()
    job_id = remembered_job("import")
    if job_id is not None:
        watch_job(job_id, key="ds-import")


def _common_fields(prefix: str, default_name: str = "") -> dict[str, Any]:
    """Name, validation share, seed, author and message, inside the current form."""
    c1, c2, c3 = st.columns([3, 2, 1])
    name = c1.text_input(
        "Dataset name",
        value=default_name,
        key=f"{prefix}_name",
        placeholder="e.g. lunch-photos",
        help="Letters, digits, '.', '_' or '-'. An existing name gets a new version.",
    )
    val_fraction = c2.slider(
        "Validation share",
        0.05,
        0.5,
        0.2,
        step=0.05,
        key=f"{prefix}_val",
        help="Share of images kept for validation when the source has no split",
    )
    seed = c3.number_input("Seed", 0, 1_000_000, 0, key=f"{prefix}_seed", help="Same seed, same split")
    c4, c5 = st.columns([1, 2])
    author = c4.text_input("Your name", key=f"{prefix}_author", placeholder="shown in the version history")
    message = c5.text_input("Version note", key=f"{prefix}_message", placeholder="e.g. lunch photos from March")
    return {
        "name": name,
        "val_fraction": float(val_fraction),
        "seed": int(seed),
        "author": author.strip(),
        "message": message.strip(),
    }


def _submit_import(params: dict[str, Any], title: str) -> None:
    job_id = call(runner.submit, "import_dataset", params, title=title, action="Starting the import")
    if job_id is not None:
        remember_job("import", job_id)
        st.toast(f"Import started (job {job_id}).")


def _upload_form() -> None:
    with st.form("ds_upload_form", border=True):
        st.caption("A .zip of a COCO export (annotations .json + images) or a YOLO / Roboflow export (data.yaml).")
        upload = st.file_uploader("Dataset archive", type=["zip"], key="ds_upload_file")
        fields = _common_fields("ds_upload")
        submitted = st.form_submit_button("Import", type="primary", key="ds_upload_submit", icon=":material/upload:")
    if not submitted:
        return
    name = call(check_dataset_name, fields["name"], action="Importing")
    if name is None:
        return
    if upload is None:
        st.error("Choose a .zip file to upload first.")
        return
    saved = call(save_upload, upload, upload.name, action="Saving the upload")
    if saved is None:
        return
    _submit_import(
        {**fields, "name": name, "source": str(saved), "delete_source_after": True},
        title=f"Import {upload.name} as {name}",
    )


def _server_form() -> None:
    with st.form("ds_server_form", border=True):
        st.caption(
            "A path the server can read: a folder with a COCO .json and images, a YOLO folder with "
            "data.yaml, a COCO .json file, or a .zip."
        )
        source = st.text_input("Path on the server", key="ds_server_path", placeholder="/data/lunch/annotations.json")
        images_dir = st.text_input(
            "Images folder (only for a COCO .json whose images live elsewhere)", key="ds_server_images"
        )
        fields = _common_fields("ds_server")
        submitted = st.form_submit_button("Import", type="primary", key="ds_server_submit", icon=":material/input:")
    if not submitted:
        return
    name = call(check_dataset_name, fields["name"], action="Importing")
    if name is None:
        return
    paths = call(check_import_source, source, images_dir, action="Importing")
    if paths is None:
        return
    path, images = paths
    params = {**fields, "name": name, "source": str(path), "delete_source_after": False}
    if images is not None:
        params["images_dir"] = str(images)
    _submit_import(params, title=f"Import {path.name} as {name}")


def _demo_form() -> None:
    with st.form("ds_demo_form", border=True):
        st.caption(
            "Procedural photos of plates with the twelve PlateOps foods, boxes included — for trying things "
            "out. Planted defects show what the quality checks catch."
        )
        c1, c2, c3, c4 = st.columns([2, 2, 1, 2], vertical_alignment="bottom")
        name = c1.text_input("Dataset name", value="demo-food", key="ds_demo_name")
        images = c2.number_input("Images", 10, 5000, 200, step=10, key="ds_demo_images")
        seed = c3.number_input("Seed", 0, 1_000_000, 0, key="ds_demo_seed")
        defects = c4.checkbox(
            "Plant defects",
            value=True,
            key="ds_demo_defects",
            help="A few broken, blank, duplicate or badly boxed images",
        )
        submitted = st.form_submit_button(
            "Create demo dataset", type="primary", key="ds_demo_submit", icon=":material/auto_awesome:"
        )
    if not submitted:
        return
    checked = call(check_dataset_name, name, action="Creating the demo dataset")
    if checked is None:
        return
    job_id = call(
        runner.submit,
        "demo_dataset",
        {"name": checked, "images": int(images), "seed": int(seed), "defects": bool(defects)},
        title=f"Create demo dataset {checked} ({int(images)} images)",
        action="Starting the demo dataset",
    )
    if job_id is not None:
        remember_job("import", job_id)
        st.toast(f"Demo dataset started (job {job_id}).")
