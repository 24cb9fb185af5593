"""The Detect page as end users see it: plain words about the detector, one "show less certain items" control,
and a notice when a photo looks unlike the photos the detector learnt from. No model names, runs or thresholds."""

from __future__ import annotations

from datetime import datetime

import pandas as pd
import streamlit as st

from backend.core.clock import utcnow
from backend.core.errors import PlateOpsError
from backend.monitoring.outliers import UnusualPhoto, check_photo
from backend.serving.service import DetectOutcome, ServingModel
from ui.widgets.text import plural

LESS_CERTAIN_FACTOR = 0.5  # "show less certain items" halves the confidence the detector needs


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


def certainty_ui(model: ServingModel) -> float:
    """A single toggle instead of threshold sliders; returns the confidence the detector needs."""
    less = st.toggle(
        "Show less certain items",
        key="detect_less_certain",
        help="Also show items the detector is less sure about. Some of them may be wrong.",
    )
    conf = model.default_conf * (LESS_CERTAIN_FACTOR if less else 1.0)
    return round(min(max(conf, 0.05), 0.95), 2)


def items_ui(outcome: DetectOutcome) -> None:
    """The items found, in plain words (no box coordinates)."""
    if not outcome.detections:
        st.info("We found no food in this photo. Try a clearer photo, or turn on “Show less certain items”.")
        return
    rows = [{"item": d.class_name, "how sure": d.confidence} for d in outcome.detections]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        column_config={
            "how sure": st.column_config.ProgressColumn("how sure", min_value=0.0, max_value=1.0, format="%.2f")
        },
        key=f"detect_items_{outcome.prediction_id}",
    )


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
