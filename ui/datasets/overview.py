"""The Overview tab: what a version holds (metrics and charts) and the pre-flight report of its import."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from backend.data.index import AREA_LABELS
from backend.data.preflight import PreflightReport
from backend.store.dataset_index import IndexState
from backend.store.records import DatasetVersion
from ui.widgets.charts import show_chart, table_height

SPLIT_COLORS = {"train": "#e4572e", "val": "#2e86ab", "test": "#76b041", "excluded": "#9e9e9e"}


# --- overview -------------------------------------------------------------------------------------------------


def overview_ui(version: DatasetVersion, index: IndexState) -> None:
    """Metrics, the charts of what the version holds (from the index summary), and the pre-flight report."""
    del version  # the index holds everything shown here
    summary = index.summary
    splits = summary.get("splits", {})
    c1, c2, c3, c4, c5 = st.columns(5)
    c1.metric("Images", index.images)
    c2.metric("Boxes", index.boxes)
    c3.metric("Classes", len(index.names))
    c4.metric("Train / val", f"{splits.get('train', 0)} / {splits.get('val', 0)}")
    c5.metric("Without boxes", summary.get("background", 0), help="Background images teach 'no food here'")
    if not index.images:
        st.info("This version holds no readable images.")
        return

    left, right = st.columns(2)
    with left, st.container(border=True):
        st.markdown("**Boxes per class** — is any food rare, or missing from a split?")
        show_chart(class_chart(class_frame(index)))
    with right, st.container(border=True):
        st.markdown("**Boxes per image** — how crowded the plates are")
        show_chart(boxes_per_image_chart(summary.get("boxes_per_image", {})))
    left, right = st.columns(2)
    with left, st.container(border=True):
        st.markdown("**Box size** — share of the image a box covers (small boxes are harder)")
        show_chart(area_chart(summary.get("area_bins", {})))
    with right, st.container(border=True):
        st.markdown("**Image sizes** — width × height in pixels")
        sizes = summary.get("sizes", [])
        if sizes:
            show_chart(size_chart(sizes))
        else:
            st.caption("No readable image sizes.")

    report = PreflightReport.from_json(summary.get("preflight", {}))
    if report.found:
        preflight_ui(report, int(summary.get("preflight_files", len(report.files))))


def class_frame(index: IndexState) -> pd.DataFrame:
    """Boxes per (class, split), from the index summary."""
    names = index.names
    rows = [
        {"class": names[c] if 0 <= c < len(names) else f"class {c}", "split": s, "boxes": n}
        for c, s, n in index.summary.get("class_split", [])
    ]
    return pd.DataFrame(rows, columns=["class", "split", "boxes"])


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


def boxes_per_image_chart(per_image: dict[str, int]) -> alt.Chart:
    """Bars: how many images have 0, 1, 2… boxes (from the index summary)."""
    counts = {int(k): int(v) for k, v in per_image.items()}
    frame = pd.DataFrame({"boxes in image": list(range(max(counts, default=0) + 1))})
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


def area_chart(bins: dict[str, int]) -> alt.Chart:
    """Histogram of box area as a percentage of the image (bins counted when the index was built)."""
    labels = list(AREA_LABELS)
    frame = pd.DataFrame({"area": labels, "boxes": [int(bins.get(label, 0)) for label in labels]})
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


def size_chart(sizes: list[list[object]]) -> alt.Chart:
    """Scatter of image width against height (one point per distinct size), coloured by split, sized by count."""
    frame = pd.DataFrame(sizes, columns=["split", "width", "height", "images"])
    splits = sorted(frame["split"].unique())
    return (
        alt.Chart(frame)
        .mark_circle(opacity=0.6)
        .encode(
            x=alt.X("width:Q", title="width (px)", scale=alt.Scale(zero=False)),
            y=alt.Y("height:Q", title="height (px)", scale=alt.Scale(zero=False)),
            size=alt.Size("images:Q", legend=None, scale=alt.Scale(range=[30, 400])),
            color=alt.Color(
                "split:N",
                scale=alt.Scale(domain=splits, range=[SPLIT_COLORS.get(s, "#999") for s in splits]),
                legend=alt.Legend(orient="bottom", title=None),
            ),
            tooltip=["split", "width", "height", "images"],
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
    "boxes_of_left_out_images": "Boxes on images left out",
    "annotations_without_image": "Annotations naming no listed image",
    "labels_without_image": "Label files without an image",
    "crowd_excluded": "Crowd annotations left out",
    "difficult_boxes": "Boxes marked difficult (VOC, kept)",
    "truncated_boxes": "Boxes marked truncated (VOC, kept)",
}


def layout_caption(report: PreflightReport) -> None:
    """The layout detected, what happened to the source's splits, and the categories left out (plain text)."""
    if report.layout:
        given = ", ".join(report.splits_given) or "none"
        kept = "kept as given" if report.splits_kept else f"{report.images_split_here or 0} images split here"
        st.text(f"Layout: {report.layout}. Splits in the source: {given}; {kept}.")
    for dropped in report.dropped_categories:
        st.text(f"Category left out: {dropped.name} ({dropped.reason}).")


def preflight_ui(report: PreflightReport, files_total: int) -> None:
    """The pre-flight report of the conversion: counts, class-id mapping, per-file table."""
    st.subheader("Pre-flight report", help="What the import did when it converted the data to YOLO format.")
    fmt = (report.format or "?").upper()
    share = "?" if report.val_fraction is None else f"{report.val_fraction:g}"
    seed = "?" if report.seed is None else report.seed
    st.caption(f"Converted from {fmt} · validation share {share} · seed {seed}")
    layout_caption(report)
    left, right = st.columns(2)
    with left:
        st.markdown("**Counts**")
        rows = [{"what": COUNT_LABELS.get(k, k.replace("_", " ")), "count": v} for k, v in report.counts.items()]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", height=table_height(len(rows)))
    with right:
        st.markdown("**Class ids** — source id → YOLO id")
        if report.class_map:
            frame = pd.DataFrame(
                [{"source id": c.source_id, "YOLO id": c.class_id, "class": c.name} for c in report.class_map]
            )
            st.dataframe(frame, hide_index=True, width="stretch", height=table_height(len(frame)))
        else:
            st.caption("The source already used YOLO class ids.")
    files = report.files
    with st.expander(f"Files the import noted something about ({len(files)} of {files_total})"):
        if files:
            frame = pd.DataFrame(
                [
                    {
                        "file": f.file,
                        "source": f.source,
                        "split": f.split,
                        "boxes": f.boxes,
                        "issues": ", ".join(f.issues),
                    }
                    for f in files
                ]
            )
            st.dataframe(frame, hide_index=True, width="stretch")
        else:
            st.caption("None: every file converted as it was.")
