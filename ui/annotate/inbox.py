"""The traffic inbox: production pictures on the review queue (feedback, Monitor drill-downs, active-learning picks)
labelled on the canvas from the serving model's logged boxes, then added to the chosen dataset as a new version in
one batch (or dismissed with a reason); "Label the next" picks more; after a batch, one click validates and retrains.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from backend.annotation.inbox import (
    AcceptedBatch,
    LabelledPicture,
    TrafficPicture,
    accept_traffic,
    dismiss_traffic,
    load_traffic_image,
    traffic_inbox,
)
from backend.annotation.picking import queue_next
from backend.annotation.selection import Strategy
from backend.annotation.service import PixelBox
from backend.annotation.tasks import start_validate_retrain
from backend.core.enums import ReviewSource
from backend.core.vocab import color_for
from backend.store.records import DatasetVersion
from ui.annotate.editor import box_table_ui, canvas_ui
from ui.widgets.calls import call
from ui.widgets.shell import current_actor
from ui.widgets.text import plain, plural

INBOX_POS = "annot_inbox_pos"
READY_KEY = "annot_inbox_ready"  # {prediction_id: ((class, (x1, y1, x2, y2)), ...)}: reviewed, waiting for the batch
ACCEPTED_KEY = "annot_inbox_accepted"  # the last accepted batch's new version (for validate and retrain)
TRAFFIC_LABELS = {
    ReviewSource.FEEDBACK: "End-user feedback",
    ReviewSource.DRIFT: "Monitor drill-down",
    ReviewSource.LOW_CONFIDENCE: "Low confidence",
    ReviewSource.NOVEL: "Unlike the training pictures",
    ReviewSource.DISAGREEMENT: "Disagreement",
    ReviewSource.SELECTION: "Picked for diversity",
}
CURVES = Path(__file__).resolve().parents[1] / "assets" / "active_learning.png"  # written by bench/active_learning.py
STRATEGY_LABELS = {
    Strategy.DIVERSE: "Diverse (far from the training pictures and from each other)",
    Strategy.UNCERTAINTY: "Uncertain (low or ambiguous confidence, user feedback)",
    Strategy.NOVELTY: "Novel (unlike the training pictures)",
    Strategy.RANDOM: "Random",
}


def label_next_ui(dataset: str) -> None:
    """ "Label the next N": put the logged pictures most worth labelling on the inbox, each with its reason."""
    cols = st.columns([1, 3, 2])
    k = cols[0].number_input("How many", min_value=1, max_value=200, value=20, key="annot_next_k")
    strategy = cols[1].selectbox(
        "Chosen by", list(STRATEGY_LABELS), format_func=lambda s: STRATEGY_LABELS[s], key="annot_next_strategy"
    )
    cols[2].write("")
    if cols[2].button(f"Label the next {int(k)}", icon="🎯", key="annot-next"):
        picks = call(queue_next, dataset, int(k), actor=current_actor(), strategy=strategy, action="Picking pictures")
        if picks is not None:
            st.toast(f"{plural(len(picks), 'picture')} added to the inbox.")
            st.rerun()


def _reasons(picture: TrafficPicture) -> None:
    for source, reason in picture.reasons:
        label = TRAFFIC_LABELS.get(ReviewSource(source), source) if source in set(ReviewSource) else source
        st.markdown(f"- **{plain(label)}**: {plain(reason)}")


def _dismiss_ui(picture: TrafficPicture, *, by: str) -> None:
    with st.popover("Dismiss", icon="⛔"):
        reason = st.text_input("Why is it not worth labelling?", key=f"annot-inbox-why-{picture.prediction_id}")
        if st.button("Dismiss from the inbox", key=f"annot-inbox-dismiss-{picture.prediction_id}"):
            done = call(
                dismiss_traffic, [picture.prediction_id], reason, actor=current_actor(), by=by, action="Dismissing"
            )
            if done is not None:
                st.session_state.get(READY_KEY, {}).pop(picture.prediction_id, None)
                st.rerun()


def _position(pictures: list[TrafficPicture]) -> int:
    position = min(int(st.session_state.get(INBOX_POS, 0)), len(pictures) - 1)
    cols = st.columns([1, 3, 1])
    if cols[0].button("Previous", icon="⬅️", shortcut="alt+left", disabled=position == 0, key="annot-inbox-prev"):
        position -= 1
    if cols[2].button(
        "Next", icon="➡️", shortcut="alt+right", disabled=position >= len(pictures) - 1, key="annot-inbox-next"
    ):
        position += 1
    picture = pictures[position]
    ready = " · ✅ labelled" if picture.prediction_id in st.session_state.get(READY_KEY, {}) else ""
    cols[1].markdown(
        f"**{plain(picture.image_name)}** (prediction #{picture.prediction_id}) · {position + 1} of {len(pictures)}"
        + ready
    )
    st.session_state[INBOX_POS] = position
    return position


def _batch_ui(version: DatasetVersion, dataset: str, pictures: list[TrafficPicture], *, by: str) -> None:
    """Add the pictures marked labelled to the dataset as one new version."""
    ready: dict[int, tuple[tuple[str, PixelBox], ...]] = st.session_state.setdefault(READY_KEY, {})
    waiting = {p.prediction_id for p in pictures}
    for pid in [pid for pid in ready if pid not in waiting]:
        ready.pop(pid)  # closed meanwhile (someone else accepted or dismissed it)
    st.markdown(f"**Batch:** {plural(len(ready), 'picture')} labelled and ready for **{plain(dataset)}**.")
    if st.button(
        f"Add {plural(len(ready), 'picture')} to {dataset} as a new version",
        type="primary",
        icon="📥",
        disabled=not ready,
        key="annot-inbox-accept",
    ):
        batch = [LabelledPicture(pid, boxes) for pid, boxes in ready.items()]
        accepted = call(accept_traffic, version.dataset_id, batch, actor=current_actor(), author=by, action="Adding")
        if accepted is not None:
            ready.clear()
            st.session_state[ACCEPTED_KEY] = accepted
            st.rerun()


def _accepted_ui() -> None:
    accepted: AcceptedBatch | None = st.session_state.get(ACCEPTED_KEY)
    if accepted is None:
        return
    st.success(f"Saved as {accepted.version.label}: {plain(accepted.version.message)}.", icon="✅")
    if st.button("Validate and retrain like the last run", icon="🏋️", key="annot-inbox-retrain"):
        job = call(start_validate_retrain, accepted.version.id, actor=current_actor(), action="Starting the retrain")
        if job is not None:
            st.session_state.pop(ACCEPTED_KEY, None)
            st.toast(f"Job #{job} validates {accepted.version.label}, then retrains; see the Jobs page.")


def inbox_ui(dataset: str, version: DatasetVersion, names: list[str], *, by: str) -> None:
    """The whole inbox: pick more, label one picture at a time, accept the batch into `dataset`."""
    _accepted_ui()
    with st.expander("Label the next pictures worth a person's time", icon="🎯"):
        label_next_ui(dataset)
        if CURVES.is_file():
            st.image(str(CURVES), caption="mAP50 against labels per strategy on demo data (bench/active_learning.py)")
    pictures = call(traffic_inbox, action="Reading the inbox")
    if not pictures:
        st.info(
            "The traffic inbox is empty: production pictures arrive here from end-user feedback, the Monitor's "
            "drill-down, or **Label the next** above."
        )
        return
    position = _position(pictures)
    picture = pictures[position]
    _reasons(picture)
    if not picture.labellable:
        st.warning("This picture was not kept (pictures are not stored), so it cannot be labelled. Dismiss it.")
        _dismiss_ui(picture, by=by)
        return
    image = call(load_traffic_image, picture.prediction_id, action="Opening the picture")
    if image is None:
        return
    new_class = st.selectbox("Class of new boxes", names, key="annot_inbox_class")
    st.markdown(
        f"<span style='color:{color_for(new_class)}'>■</span> The boxes are the serving model's answer: fix them, "
        f"draw missing **{plain(new_class)}** boxes, then mark the picture labelled.",
        unsafe_allow_html=True,
    )
    boxes = canvas_ui(image, names, new_class)
    st.caption(f"{plural(len(boxes), 'box')} on this picture.")
    box_table_ui(image, names, boxes)
    cols = st.columns(2)
    if cols[0].button("Mark labelled", icon="✅", key="annot-inbox-ready"):
        st.session_state.setdefault(READY_KEY, {})[picture.prediction_id] = tuple(boxes)
        st.session_state[INBOX_POS] = min(position + 1, len(pictures) - 1)
        st.rerun()
    with cols[1]:
        _dismiss_ui(picture, by=by)
    st.divider()
    _batch_ui(version, dataset, pictures, by=by)
