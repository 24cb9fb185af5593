"""The Detect page as end users see it: plain words about the detector, items named with how sure the detector is
("tomato: very likely", never a number), one "show less certain items" control offered only when there is more to
show, the refusal of a picture that is not a food photo, and a notice when a photo looks unlike the photos the
detector learnt from. No model names, runs or thresholds."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from backend.core.clock import utcnow
from backend.core.errors import PlateOpsError
from backend.monitoring.outliers import UnusualPhoto, check_photo
from backend.serving.certainty import certainty_of, probability_of
from backend.serving.service import DetectOutcome, ServingModel
from ui.widgets.text import plain, plural

LESS_CERTAIN_KEY = "detect_less_certain"
NOT_FOOD = "This does not look like a food photo"


def updated_words(when: datetime, now: datetime | None = None) -> str:
    """'updated today', 'updated yesterday', 'updated 2 days ago' (naive UTC)."""
    days = max(0, ((now or utcnow()) - when).days)
    if days == 0:
        return "updated today"
    if days == 1:
        return "updated yesterday"
    return f"updated {plural(days, 'day')} ago"


def model_intro_ui(model: ServingModel) -> None:
    """One plain line about the detector that answers."""
    when = datetime.utcfromtimestamp(model.mtime_ns / 1e9) if model.mtime_ns else None
    st.markdown(f"🍽️ **Our food detector**{', ' + updated_words(when) if when else ''}.")


def less_certain_ui(outcomes: list[DetectOutcome]) -> bool:
    """The "Show less certain items" toggle, offered only when some picture has items between the floor and their
    threshold (so turning it on always shows more); returns whether they are shown."""
    more = sum(len(o.less_certain) for o in outcomes if o.familiar)
    if not more:
        return False
    return st.toggle(
        "Show less certain items",
        key=LESS_CERTAIN_KEY,
        help=f"Also show {plural(more, 'item')} the detector is less sure about. Some of them may be wrong.",
    )


def certainty_words(probability: float) -> str:
    """How sure, in words ("very likely", "likely", "maybe")."""
    word = certainty_of(probability)
    return str(word) if word is not None else "unsure"


def not_food_ui(outcome: DetectOutcome) -> None:
    """The refusal of a picture that does not look like a food photo: plain words, nothing found, nothing to cook."""
    note = f" {plain(outcome.familiarity_note)}" if outcome.familiarity_note else ""
    st.warning(
        f"**{NOT_FOOD}**, so we did not look for food in it.{note} "
        "Please try a photo of a plate, a bowl or ingredients on a table.",
        icon="🚫",
    )


def nothing_found_text(outcome: DetectOutcome, *, less_certain: bool) -> str:
    """Why a familiar picture shows no item, pointing to "Show less certain items" only when it would show more."""
    if outcome.less_certain and not less_certain:
        return (
            "We are not sure about anything in this photo. Turn on “Show less certain items” above to see "
            f"{plural(len(outcome.less_certain), 'guess', 'guesses')}; some may be wrong."
        )
    return "We found no food in this photo. A clear, well-lit photo of the food works best."


def items_ui(outcome: DetectOutcome, *, less_certain: bool = False) -> None:
    """The items found, each with how sure the detector is in words (no numbers, no box coordinates)."""
    items = outcome.items(less_certain=less_certain)
    if not items:
        st.info(nothing_found_text(outcome, less_certain=less_certain))
        return
    rows = [{"item": d.class_name, "how sure": certainty_words(probability_of(d))} for d in items]
    st.dataframe(pd.DataFrame(rows), hide_index=True, key=f"detect_items_{outcome.prediction_id}_{less_certain}")


def unusual_text(unusual: UnusualPhoto) -> str:
    """The out-of-distribution notice in plain words."""
    return (
        f"**This photo looks unlike the photos our detector learnt from** ({unusual.description} than those). "
        "What it found here may be wrong; a well-lit photo of a plate of food works best."
    )


def unusual_notice_ui(outcome: DetectOutcome, model: ServingModel) -> None:
    """Warn when the photo's image properties lie far outside the serving model's training photos."""
    try:
        unusual = check_photo(outcome.features, model)
    except PlateOpsError:
        return  # no training set on record for this model: nothing to compare with, so no notice
    if unusual is not None:
        st.warning(unusual_text(unusual), icon="🤔")
