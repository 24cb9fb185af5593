"""Which image to edit: the dataset version, the review queue (filtered by source and class) or all images, and
next / previous that keep your place."""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st

from backend.annotation.inbox import traffic_inbox
from backend.annotation.service import dismiss_items, flag_for_review, queue_files, review_queue
from backend.core.enums import ReviewSource
from backend.store.records import DatasetVersion, ReviewItem
from ui.annotate.editor import VERSION_KEY, unsaved_files
from ui.widgets.calls import call
from ui.widgets.shell import current_actor
from ui.widgets.text import plain

POS_KEY = "annot_pos"
SHOWN_KEY = "annot_shown"  # the file on screen, kept there while it has unsaved edits
QUEUE, INBOX, ALL = "Review queue", "Traffic inbox", "All images"
SOURCE_LABELS = {
    ReviewSource.VALIDATION: "Validation issue",
    ReviewSource.FEEDBACK: "End-user feedback",
    ReviewSource.DRIFT: "Monitor drill-down",
    ReviewSource.LABEL_ERROR: "Suspected label error",
    ReviewSource.DISAGREEMENT: "Models disagree",
    ReviewSource.USER: "Flagged by a person",
    ReviewSource.LOW_CONFIDENCE: "Low confidence",
    ReviewSource.NOVEL: "Unlike the training pictures",
    ReviewSource.SELECTION: "Picked for diversity",
}


@dataclass(frozen=True)
class Selection:
    """What the editor shows: the version, the image list, the position in it and the queue items per file."""

    version: DatasetVersion
    dataset_name: str
    files: list[str]
    position: int
    items: dict[str, list[ReviewItem]]
    inbox: bool = False  # the traffic inbox is open instead (pictures of no version: `ui.annotate.inbox`)

    @property
    def file(self) -> str | None:
        return self.files[self.position] if self.files else None


def version_ui(entries: list[tuple[str, DatasetVersion]]) -> tuple[str, DatasetVersion]:
    """Pick the dataset and the version to edit on (default: the dataset's newest)."""
    by_id = {v.id: (name, v) for name, v in entries}
    names = list(dict.fromkeys(name for name, _ in entries))
    current = by_id.get(st.session_state.get(VERSION_KEY, -1))
    cols = st.columns([2, 1])
    dataset = cols[0].selectbox(
        "Dataset", names, index=names.index(current[0]) if current else 0, key="annot_dataset_pick"
    )
    versions = sorted((v for n, v in entries if n == dataset), key=lambda v: -v.number)
    default = current[1] if current and current[0] == dataset else versions[0]
    labels = {v.id: f"{v.label} · {v.message[:60]}" for v in versions}
    version_id = cols[1].selectbox(
        "Edit on version",
        [v.id for v in versions],
        index=[v.id for v in versions].index(default.id),
        format_func=lambda i: labels[i],
        help="Edits are made on this version; saving creates a new version on top of the newest one.",
    )
    if version_id != st.session_state.get(VERSION_KEY):
        st.session_state[VERSION_KEY] = version_id
    return dataset, by_id[version_id][1]


def selection_ui(dataset: str, version: DatasetVersion, all_files: list[str], names: list[str]) -> Selection:
    """Queue or all images, filters, and the position with previous / next (Alt+← / Alt+→)."""
    if "annot_mode" not in st.session_state:  # start where something waits: the queue, the inbox, else all images
        waiting = call(review_queue, version.dataset_id, action="Reading the queue")
        st.session_state["annot_mode"] = QUEUE if waiting else INBOX if call(traffic_inbox, limit=1) else ALL
    mode = st.radio(
        "Images",
        [QUEUE, INBOX, ALL],
        key="annot_mode",
        horizontal=True,
        help="Review queue: this dataset's images something flagged. Traffic inbox: production pictures (feedback, "
        "Monitor drill-downs, picks worth labelling) that belong to no dataset yet.",
    )
    if mode == INBOX:
        return Selection(version, dataset, [], 0, {}, inbox=True)
    items: list[ReviewItem] = []
    if mode == QUEUE:
        filter_cols = st.columns(2)
        source = filter_cols[0].selectbox(
            "Source",
            [None, *SOURCE_LABELS],
            format_func=lambda s: "Every source" if s is None else SOURCE_LABELS[ReviewSource(s)],
            key="annot_source",
        )
        class_name = filter_cols[1].selectbox(
            "Class", [None, *names], format_func=lambda c: "Every class" if c is None else c, key="annot_class"
        )
        found = call(review_queue, version.dataset_id, source=source, class_name=class_name, action="Reading the queue")
        known = set(all_files)
        items = [i for i in found or [] if i.file in known]
        files = queue_files(items)
        shown = st.session_state.get(SHOWN_KEY)
        if shown in unsaved_files(version.id) and shown not in files:
            # Someone else resolved it (e.g. saved the same image); keep it so the edits on screen are not lost.
            files.insert(min(int(st.session_state.get(f"{POS_KEY}:{dataset}:{mode}", 0)), len(files)), shown)
        if not files:
            st.info("The review queue is empty for these filters. Switch to **All images** to edit any image.")
    else:
        files = list(all_files)
    pos_key = f"{POS_KEY}:{dataset}:{mode}"
    position = min(int(st.session_state.get(pos_key, 0)), max(0, len(files) - 1))
    if files:
        cols = st.columns([1, 3, 1])
        if cols[0].button("Previous", icon="⬅️", shortcut="alt+left", disabled=position == 0):
            position -= 1
        if cols[2].button("Next", icon="➡️", shortcut="alt+right", disabled=position >= len(files) - 1):
            position += 1
        cols[1].markdown(f"**{plain(files[position])}** · {position + 1} of {len(files)}")
    st.session_state[pos_key] = position
    st.session_state[SHOWN_KEY] = files[position] if files else None
    by_file: dict[str, list[ReviewItem]] = {}
    for item in items:
        by_file.setdefault(item.file, []).append(item)
    return Selection(version, dataset, files, position, by_file)


def reasons_ui(selection: Selection, *, by: str) -> None:
    """Why this image is in the queue, with dismiss (reason required); outside the queue: flag it."""
    file = selection.file
    if file is None:
        return
    items = selection.items.get(file, [])
    if items:
        for item in items:
            label = (
                SOURCE_LABELS.get(ReviewSource(item.source), item.source)
                if item.source in set(ReviewSource)
                else item.source
            )
            score = f" (score {item.score:.2f})" if item.score is not None else ""
            st.markdown(f"- **{plain(label)}**{score}: {plain(item.reason)}")
        with st.popover("Dismiss", icon="⛔"):
            reason = st.text_input("Why are the labels right as they are?", key=f"annot-dismiss-{file}")
            go = st.button("Dismiss from the queue", key=f"annot-dismiss-go-{file}")
            if (
                go
                and call(
                    dismiss_items, [i.id for i in items], reason, actor=current_actor(), by=by, action="Dismissing"
                )
                is not None
            ):
                st.rerun()
    else:
        with st.popover("Flag for review", icon="🚩"):
            reason = st.text_input("What should be checked?", key=f"annot-flag-{file}")
            go = st.button("Put on the review queue", key=f"annot-flag-go-{file}")
            if (
                go
                and call(flag_for_review, selection.version.id, file, reason, actor=current_actor(), action="Flagging")
                is not None
            ):
                st.toast(f"{plain(file)} is on the review queue.")
