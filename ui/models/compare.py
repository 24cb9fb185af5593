"""Two or more runs side by side: deltas, per-class AP, PR curves, confusion matrices, training curves, where their
predictions disagree on the same validation images, and what changed between their dataset versions."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st
from PIL import Image

from backend.imaging.drawing import draw_detections
from backend.registry.compare import Comparison, Disagreement, ModelEntry, compare_runs, prediction_disagreements
from ui.widgets.calls import call
from ui.widgets.charts import show_chart, table_height
from ui.widgets.text import plain

CURVE_METRICS = ("map50", "map50_95", "box_loss", "cls_loss", "precision", "recall")


def choose_runs_ui(entries: list[ModelEntry], selected: list[int]) -> list[int]:
    """Pick the runs to compare (the table's selection first); returns run ids, baseline first."""
    labels = {e.run_id: f"#{e.run_id} {e.name} ({e.stage})" for e in entries}
    default = [i for i in selected if i in labels] or list(labels)[:2]
    chosen = st.multiselect(
        "Runs to compare (the first is the baseline)",
        options=list(labels),
        default=default[:6],
        format_func=lambda i: labels[i],
        key="models_compare_runs",
    )
    return [int(i) for i in chosen]


def comparison_ui(run_ids: list[int]) -> None:
    """Every comparison view of the chosen runs."""
    comparison = call(compare_runs, run_ids, action="Comparing the runs")
    if comparison is None:
        return
    st.dataframe(
        pd.DataFrame(comparison.deltas),
        hide_index=True,
        width="stretch",
        key="models_deltas",
        height=table_height(len(comparison.deltas)),
    )
    per_class, curves = st.tabs(["Per-class AP and PR curves", "Confusion matrices and training curves"])
    with per_class:
        _per_class_ui(comparison)
    with curves:
        _confusion_ui(comparison)
        _history_ui(comparison)
    _version_diff_ui(comparison)
    _disagreements_ui(run_ids)


def _per_class_ui(comparison: Comparison) -> None:
    if comparison.per_class:
        frame = pd.DataFrame(comparison.per_class)
        chart = (
            alt.Chart(frame, title="AP50 per class", height=260)
            .mark_bar()
            .encode(
                x=alt.X("class:N", title=None),
                xOffset="run:N",
                y=alt.Y("ap50:Q", title="AP50", scale=alt.Scale(domain=[0, 1])),
                color=alt.Color("run:N", legend=alt.Legend(orient="bottom")),
                tooltip=["run", "class", alt.Tooltip("ap50:Q", format=".3f"), alt.Tooltip("ap50_95:Q", format=".3f")],
            )
        )
        show_chart(chart)
    if comparison.pr_curves:
        frame = pd.DataFrame(comparison.pr_curves)
        chart = (
            alt.Chart(frame, title="Precision-recall curves", height=220)
            .mark_line()
            .encode(
                x=alt.X("recall:Q", scale=alt.Scale(domain=[0, 1])),
                y=alt.Y("precision:Q", scale=alt.Scale(domain=[0, 1])),
                color=alt.Color("run:N", legend=alt.Legend(orient="bottom")),
                strokeDash="run:N",
            )
            .properties(width=220)
            .facet(facet=alt.Facet("class:N", title=None), columns=3)
        )
        st.altair_chart(chart)
    else:
        st.caption("No PR curves stored for these runs.")


def _confusion_ui(comparison: Comparison) -> None:
    if not comparison.confusion:
        st.caption("No confusion matrices stored for these runs.")
        return
    columns = st.columns(min(len(comparison.confusion), 3))
    for index, (run, matrix) in enumerate(comparison.confusion.items()):
        names = matrix["names"]
        rows = [
            {"predicted": names[i], "true": names[j], "count": value}
            for i, row in enumerate(matrix["matrix"])
            for j, value in enumerate(row)
        ]
        chart = (
            alt.Chart(pd.DataFrame(rows), title=run, height=260)
            .mark_rect()
            .encode(
                x=alt.X("true:N", sort=names),
                y=alt.Y("predicted:N", sort=names),
                color=alt.Color("count:Q", scale=alt.Scale(scheme="blues"), legend=None),
                tooltip=["predicted", "true", "count"],
            )
        )
        with columns[index % len(columns)]:
            show_chart(chart)


def _history_ui(comparison: Comparison) -> None:
    if not comparison.history:
        st.caption("No training curves stored for these runs.")
        return
    frame = pd.DataFrame(comparison.history)
    metrics = [m for m in CURVE_METRICS if m in frame.columns]
    metric = st.segmented_control("Training curve", metrics, default=metrics[0], key="models_curve_metric")
    if metric:
        chart = (
            alt.Chart(frame, height=240)
            .mark_line(point=True)
            .encode(x="epoch:Q", y=alt.Y(f"{metric}:Q"), color=alt.Color("run:N", legend=alt.Legend(orient="bottom")))
        )
        show_chart(chart)


def _version_diff_ui(comparison: Comparison) -> None:
    diff = comparison.version_diff
    if diff is None:
        return
    st.markdown(
        f"**Dataset versions differ** ({plain(diff.old)} → {plain(diff.new)}): {diff.images_changed} of "
        f"{diff.images_compared} images have different boxes."
    )
    rows = diff.rows()
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="models_version_diff")


@st.cache_data(ttl=600, max_entries=8, show_spinner="Predicting on the validation images…")
def _disagreements(run_ids: tuple[int, ...]) -> list[Disagreement]:
    return prediction_disagreements(list(run_ids))


def _disagreements_ui(run_ids: list[int]) -> None:
    st.markdown("**Predictions on the same validation images**, where the runs disagree most first")
    if not st.toggle("Show predictions next to the ground truth", key="models_show_predictions"):
        return
    found = call(_disagreements, tuple(run_ids), action="Predicting on the validation images")
    for item in found or []:
        with Image.open(item.image) as opened:
            image = opened.convert("RGB")
        truth = [_Box(name, 1.0, box) for name, box in item.truth]
        pictures = [(draw_detections(image, truth), "ground truth")]
        pictures += [
            (draw_detections(image, dets), f"{plain(run)} ({len(dets)} boxes)")
            for run, dets in item.predictions.items()
        ]
        st.caption(f"{plain(item.image.name)}: disagreement {item.score:.2f}")
        columns = st.columns(len(pictures))
        for column, (picture, caption) in zip(columns, pictures, strict=True):
            column.image(picture, caption=caption, width="stretch")


class _Box:
    """A ground-truth box in the shape `draw_detections` draws."""

    def __init__(self, class_name: str, confidence: float, box: tuple[float, float, float, float]) -> None:
        self.class_name = class_name
        self.confidence = confidence
        self.box = box
