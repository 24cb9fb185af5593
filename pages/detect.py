"""Detect: find food in your photos, get recipe ideas, and tell us when the detector is wrong."""

from __future__ import annotations

import streamlit as st

from backend.core.errors import PlateOpsError
from backend.monitoring.tasks import maybe_start_auto_report
from backend.serving.service import best_per_class, serving_model
from ui.detect.detection import (
    answer_ui,
    cached_detector,
    class_thresholds_ui,
    detect_all,
    model_badge_ui,
    no_model_ui,
    pictures_ui,
    thresholds_ui,
)
from ui.detect.enduser import less_certain_ui, model_intro_ui
from ui.detect.recipes import recipes_ui
from ui.widgets.calls import friendly_errors
from ui.widgets.shell import current_actor, current_role
from ui.widgets.text import plain

current_actor()  # first: the sign-in screen and a stop for anyone not signed in, however the page is served

st.title("📷 Detect")
st.caption(
    "Upload photos of your food (or take one) and PlateOps finds the items in them and suggests recipes. "
    "Tell us when it gets something wrong: your feedback goes to the team that improves the detector."
)

try:
    model = serving_model()
except PlateOpsError as exc:
    st.error(f"The detector is unavailable right now: {plain(exc)}", icon="⛔")
    st.stop()
if model is None:
    no_model_ui(current_role())
    st.stop()

end_user = current_role() == "user"
if end_user:
    model_intro_ui(model)  # plain words: no model name, run or threshold
else:
    model_badge_ui(model)
detector = cached_detector(model)
if detector is None:
    st.stop()

if end_user:  # the model's own thresholds; "Show less certain items" (offered after detection) shows the rest
    conf, iou, per_class = model.default_conf, model.default_iou, dict(model.class_thresholds)
else:
    conf, iou = thresholds_ui(model)
    per_class = class_thresholds_ui(model)
pictures = pictures_ui()
if not pictures:
    st.info("Upload one or more photos above to start.", icon="📷")
    st.stop()

answers = detect_all(pictures, detector=detector, model=model, conf=conf, iou=iou, class_thresholds=per_class)
found = [a.outcome for a in answers if a.outcome is not None]
less_certain = less_certain_ui(found)  # offered only when some picture has more to show
for answer in answers:
    answer_ui(answer, class_names=detector.names, model=model, end_user=end_user, less_certain=less_certain)

if found:
    with friendly_errors("Scheduling the drift report"):
        maybe_start_auto_report()  # a drift report every `monitor.auto_report_every` new predictions; None when not due
food_photos = [outcome for outcome in found if outcome.familiar]  # no recipes from a picture that is not food
if food_photos:
    hidden = 0 if less_certain else sum(len(outcome.less_certain) for outcome in food_photos)
    recipes_ui(best_per_class(food_photos, less_certain=less_certain), hidden_less_certain=hidden)
