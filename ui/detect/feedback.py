"""Feedback buttons under each picture: correct, wrong (with the right item), or a missed item.

Items are named as end users see them ("tomato · very likely"). A less certain item is not in the prediction row
(only the items shown by default are logged), so its feedback carries its class but no detection index.
"""

from __future__ import annotations

import streamlit as st

from backend.core.enums import FeedbackKind
from backend.serving.certainty import certainty_of, probability_of
from backend.serving.service import DetectOutcome, record_feedback
from ui.widgets.calls import call
from ui.widgets.shell import current_actor
from ui.widgets.text import plain

FEEDBACK_SHOWN = 12  # detections offered for feedback per picture (the table lists them all)
_FEEDBACK_KEY = "detect_feedback_given"
_THANKS_KEY = "detect_feedback_thanks"  # {photo sha256: [confirmation, ...]}: shown until the session ends
_THANKS = {
    FeedbackKind.CORRECT: "Thanks! You confirmed “{class_name}”.",
    FeedbackKind.WRONG: "Thanks! You told us “{class_name}” is really “{correct_class}”.",
    FeedbackKind.MISSED: "Thanks! You told us the detector missed “{class_name}”.",
}


def _given() -> dict[str, str]:
    return st.session_state.setdefault(_FEEDBACK_KEY, {})


def _send(key: str, prediction_id: int, kind: FeedbackKind, photo: str = "", **fields: object) -> None:
    """Record one piece of feedback and thank the user (a button callback)."""
    saved = call(record_feedback, prediction_id, kind, actor=current_actor(), action="Sending feedback", **fields)
    if saved is not None:
        _given()[key] = kind
        shown = {name: plain(value) for name, value in fields.items()}  # class names come from the dataset
        thanks = _THANKS.get(kind, "Thanks! Your feedback was saved.").format_map(shown)
        st.session_state.setdefault(_THANKS_KEY, {}).setdefault(photo or prediction_id, []).append(thanks)
        st.toast("Thanks! Your feedback helps the detector improve.", icon="👍")


def feedback_ui(outcome: DetectOutcome, *, class_names: list[str], less_certain: bool = False) -> None:
    """Per item shown: correct / wrong (with the right item); plus a missed item. Each click stores feedback."""
    pid = outcome.prediction_id
    items = outcome.items(less_certain=less_certain)
    logged = len(outcome.detections)  # the items in the prediction row, in its order
    with st.expander("Is this right? Tell us", icon="💬"):
        given = _given()
        for number, det in enumerate(items[:FEEDBACK_SHOWN]):
            index = number if number < logged else None
            key = f"{pid}:{number}" if index is not None else f"{pid}:less:{number - logged}"
            label_col, ok_col, pick_col, wrong_col = st.columns([3, 2, 3, 2], vertical_alignment="bottom")
            word = certainty_of(probability_of(det))
            label_col.markdown(f"**{number + 1}. {plain(det.class_name)}**" + (f" · {word}" if word else ""))
            done = given.get(key)
            if done:
                label_col.caption(f"Feedback sent: {done}")
            ok_col.button(
                "Correct",
                key=f"fb_ok_{key}",
                icon="✔️",
                disabled=bool(done),
                on_click=_send,
                args=(key, pid, FeedbackKind.CORRECT),
                kwargs={"class_name": det.class_name, "detection_index": index, "photo": outcome.sha256},
            )
            others = [name for name in class_names if name != det.class_name]
            right = pick_col.selectbox(
                "It is really…",
                others,
                index=None,
                placeholder="Choose the right item",
                key=f"fb_pick_{key}",
                disabled=bool(done) or not others,
            )
            wrong_col.button(
                "Wrong item",
                key=f"fb_wrong_{key}",
                icon="❌",
                disabled=bool(done) or right is None,
                on_click=_send,
                args=(key, pid, FeedbackKind.WRONG),
                kwargs={
                    "class_name": det.class_name,
                    "detection_index": index,
                    "correct_class": right,
                    "photo": outcome.sha256,
                },
            )
        if len(items) > FEEDBACK_SHOWN:
            st.caption(f"Showing the {FEEDBACK_SHOWN} most likely items of {len(items)}.")
        pick_col, button_col = st.columns([3, 2], vertical_alignment="bottom")
        missed = pick_col.selectbox(
            "An item the detector missed",
            class_names,
            index=None,
            placeholder="Choose the missed item",
            key=f"fb_missed_pick_{pid}",
        )
        button_col.button(
            "Report missed item",
            key=f"fb_missed_{pid}",
            icon="➕",
            disabled=missed is None,
            on_click=_send,
            args=(f"{pid}:missed:{missed}", pid, FeedbackKind.MISSED),
            kwargs={"class_name": missed, "photo": outcome.sha256},
        )
    for thanks in st.session_state.get(_THANKS_KEY, {}).get(outcome.sha256, []):
        st.success(thanks, icon="👍")
