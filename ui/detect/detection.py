"""The model badge and thresholds, the picture inputs, and detection with each picture's outcome cached in the
session per (file hash, model, conf, IoU), so a rerun never detects, or logs, the same picture twice."""

from __future__ import annotations

import hashlib
from collections import OrderedDict
from dataclasses import dataclass
from typing import Literal

import pandas as pd
import streamlit as st

from backend.core.errors import PlateOpsError
from backend.core.params import get_params
from backend.core.settings import get_settings
from backend.serving.inference import Detector
from backend.serving.service import DetectOutcome, ServingModel, detect_image, load_detector
from ui.detect.feedback import feedback_ui
from ui.widgets.calls import call
from ui.widgets.text import plain, plain_badge, plural

UPLOAD_TYPES = ("jpg", "jpeg", "png", "webp")
_CACHE_KEY = "detect_outcomes"
_CACHE_SIZE = 40  # pictures remembered per session


@dataclass(frozen=True)
class Picture:
    """One picture to detect on, as the user gave it."""

    name: str
    data: bytes
    source: Literal["upload", "camera"]


@dataclass
class Answer:
    """A picture's outcome, or the plain message saying why it could not be used."""

    picture_name: str
    outcome: DetectOutcome | None = None
    error: str = ""


# --------------------------------------------------------------------------------------------------- model


@st.cache_resource(show_spinner="Loading the food detector…", max_entries=2)
def _detector(weights: str, mtime_ns: int, _model: ServingModel) -> Detector:
    """Load once per weights file and modification time (the underscore argument is not part of the key)."""
    del weights, mtime_ns  # cache keys only
    return load_detector(_model)


def cached_detector(model: ServingModel) -> Detector | None:
    """The loaded detector for `model`, or None (with an error shown) when it cannot be loaded."""
    return call(_detector, str(model.weights), model.mtime_ns, model, action="Loading the model")


def no_model_ui(role: str) -> None:
    """Explain that nothing can detect yet: to end users in plain words, to console users with a link to Train."""
    if role == "user":  # nothing about training, models or promotion: that is the team's business
        st.info("**The food detector is not ready yet.** Please come back later: we are preparing it.")
        return
    st.info(
        "**No food detector is ready yet.** This page recognises food in your photos once a model has been "
        "trained on the food dataset (and, ideally, promoted to production on the Models page). "
        "Until then there is nothing to answer with."
    )
    st.page_link("pages/train.py", label="Train a model", icon=":material/model_training:")


def model_badge_ui(model: ServingModel) -> None:
    """Say which model answers (and why, when the production model was refused)."""
    if model.warning:
        st.warning(plain(model.warning), icon="⚠️")
    if model.production:
        st.badge(f"Answering: {plain_badge(model.label)}", icon="✅", color="green")
    else:
        st.badge(f"Answering: {plain_badge(model.label)}", icon="🧪", color="orange")
        st.caption("No model has been promoted to production yet, so the newest trained run answers.")


# --------------------------------------------------------------------------------------------------- inputs


def thresholds_ui(model: ServingModel) -> tuple[float, float]:
    """Confidence and IoU sliders, starting at the model's own defaults; returns (conf, iou)."""
    left, right = st.columns(2)
    floor = get_params().detect.floor
    conf = left.slider(
        "Minimum model score",
        min_value=0.05,
        max_value=0.95,
        value=round(min(max(model.default_conf, 0.05), 0.95), 2),
        step=0.05,
        key=f"detect_conf_{model.cache_key}",
        help="Items need at least this raw model score to be shown; the answer gives each its probability, "
        f"calibrated on held-out pictures, and never shows one under {floor:.0%}. "
        + (
            "Starts at the lowest of the model's per-class thresholds."
            if model.class_thresholds
            else "Lower it to see more (and less certain) items."
        ),
    )
    iou = right.slider(
        "Overlap (IoU) for merging boxes",
        min_value=0.1,
        max_value=0.9,
        value=model.default_iou,
        step=0.05,
        key=f"detect_iou_{model.cache_key}",
        help="Boxes of the same item that overlap more than this are merged into one.",
    )
    return float(conf), float(iou)


def class_thresholds_ui(model: ServingModel) -> dict[str, float]:
    """A toggle for the model's per-class thresholds (on by default when it has them); returns those in use."""
    if not model.class_thresholds:
        return {}
    listed = ", ".join(f"{plain(name)} {value:.2f}" for name, value in sorted(model.class_thresholds.items()))
    use = st.toggle(
        "Per-class thresholds",
        value=True,
        key=f"detect_per_class_{model.cache_key}",
        help=f"Each item needs at least its own confidence, the one that balanced misses and false alarms best "
        f"on the validation images (and at least the minimum above): {listed}.",
    )
    return dict(model.class_thresholds) if use else {}


def pictures_ui() -> list[Picture]:
    """File uploader (several pictures) and, behind a toggle, the camera; returns the pictures given."""
    settings = get_settings()
    files = st.file_uploader(
        "Upload food photos",
        type=list(UPLOAD_TYPES),
        accept_multiple_files=True,
        max_upload_size=settings.upload_max_mb,
        key="detect_uploads",
        help=f"JPEG, PNG or WebP, up to {settings.upload_max_mb} MB each.",
    )
    pictures = [Picture(name=f.name, data=f.getvalue(), source="upload") for f in files or []]
    if st.toggle("Use the camera", key="detect_camera_on", help="Take a photo with this device's camera."):
        shot = st.camera_input("Take a photo of your food", key="detect_camera")
        if shot is not None:
            data = shot.getvalue()
            pictures.append(Picture(name=f"camera-{_sha256(data)[:8]}.jpg", data=data, source="camera"))
    return pictures


# --------------------------------------------------------------------------------------------------- detection


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def detect_all(
    pictures: list[Picture],
    *,
    detector: Detector,
    model: ServingModel,
    conf: float,
    iou: float,
    class_thresholds: dict[str, float] | None = None,
) -> list[Answer]:
    """Detect on each picture once per (content, model, conf, IoU, thresholds) in this session; refusals become
    messages."""
    cache: OrderedDict[tuple[str, str, str, float, float, str], Answer] = st.session_state.setdefault(
        _CACHE_KEY, OrderedDict()
    )
    answers = []
    per_class = ",".join(f"{k}={v}" for k, v in sorted((class_thresholds or {}).items()))
    for picture in pictures:
        key = (_sha256(picture.data), picture.name, model.cache_key, round(conf, 4), round(iou, 4), per_class)
        answer = cache.get(key)
        if answer is None:
            answer = _detect_one(
                picture, detector=detector, model=model, conf=conf, iou=iou, class_thresholds=class_thresholds
            )
            cache[key] = answer
            while len(cache) > _CACHE_SIZE:
                cache.popitem(last=False)
        else:
            cache.move_to_end(key)
        answers.append(answer)
    return answers


def _detect_one(
    picture: Picture,
    *,
    detector: Detector,
    model: ServingModel,
    conf: float,
    iou: float,
    class_thresholds: dict[str, float] | None = None,
) -> Answer:
    with st.spinner(f"Looking for food in {plain(picture.name)}…"):
        try:
            outcome = detect_image(
                picture.data,
                name=picture.name,
                detector=detector,
                model=model,
                conf=conf,
                iou=iou,
                source=picture.source,
                class_thresholds=class_thresholds,
            )
        except PlateOpsError as exc:
            return Answer(picture_name=picture.name, error=str(exc))
    return Answer(picture_name=picture.name, outcome=outcome)


def answer_ui(
    answer: Answer,
    *,
    class_names: list[str],
    model: ServingModel | None = None,
    end_user: bool = False,
    less_certain: bool = False,
) -> None:
    """One picture: the refusal, or original and annotated side by side, the unusual-photo notice (given the
    serving `model`), the items and feedback. `end_user` keeps to plain words: no numbers, timings, model or boxes;
    `less_certain` also shows the items between the floor and their threshold."""
    from ui.detect.enduser import items_ui, not_food_ui, nothing_found_text, unusual_notice_ui

    if answer.outcome is None:
        st.error(f"**{plain(answer.picture_name)}** could not be used. {plain(answer.error)}", icon="🖼️")
        return
    outcome = answer.outcome
    st.subheader(plain(outcome.image_name), divider="gray")
    if not outcome.familiar:
        st.image(outcome.original, caption="Your photo", width="stretch")
        not_food_ui(outcome)
        feedback_ui(outcome, class_names=class_names)  # "missed item" only: a food photo refused can be reported
        return
    left, right = st.columns(2)
    left.image(outcome.original, caption="Your photo", width="stretch")
    items = outcome.items(less_certain=less_certain)
    right.image(
        outcome.picture(less_certain=less_certain), caption=f"Detected: {plural(len(items), 'item')}", width="stretch"
    )
    if model is not None:
        unusual_notice_ui(outcome, model)
    if end_user:
        items_ui(outcome, less_certain=less_certain)
        feedback_ui(outcome, class_names=class_names, less_certain=less_certain)
        return
    st.caption(
        f"⏱️ Detection took **{outcome.latency_ms:.0f} ms** · answered by {plain(outcome.model_label)}"
        + (f" · {plain('; '.join(outcome.notes))}" if outcome.notes else "")
        + ("" if outcome.calibrated else " · confidence not calibrated (raw scores taken as probabilities)")
    )
    if items:
        label = "probability (calibrated)" if outcome.calibrated else "probability (raw score)"
        gauge = st.column_config.ProgressColumn(label, min_value=0.0, max_value=1.0, format="%.2f")
        st.dataframe(
            pd.DataFrame(outcome.table_rows(less_certain=less_certain)),
            hide_index=True,
            column_config={
                "probability": gauge,
                "model score": st.column_config.NumberColumn("model score (raw)", format="%.3f"),
            },
            key=f"detect_table_{outcome.prediction_id}_{less_certain}",
        )
    elif outcome.less_certain and not less_certain:
        st.info("No food found at this threshold. " + nothing_found_text(outcome, less_certain=less_certain))
    else:
        st.info(
            f"No food found. Nothing in this photo reaches the floor of {get_params().detect.floor:.0%} probability, "
            "so a lower minimum score would show nothing more; try a clearer photo."
        )
    feedback_ui(outcome, class_names=class_names, less_certain=less_certain)
