"""Steps 1 to 3 of the Train page: pick a dataset version, confirm its data check, choose a preset or custom
settings, and see the time estimate."""

from __future__ import annotations

from typing import Any

import streamlit as st

from backend.core.enums import ValidationStatus
from backend.core.errors import PlateOpsError
from backend.core.params import Params, TrainConfig
from backend.store.records import DatasetVersion
from backend.training.service import (
    build_config,
    device_runs_on_gpu,
    estimate_training,
    gpu_available,
    registered_starting_points,
)
from ui.train.base_model import base_model_ui
from ui.widgets.calls import call
from ui.widgets.quality import status_badge
from ui.widgets.text import count_text, plain, plural
from ui.widgets.working import remember_version, working_version

CUSTOM = "custom"
OTHER_MODEL = "other"
PRETRAINED_MODEL = "pretrained"
MODEL_CHOICES = {
    "yolov8n.yaml": "YOLOv8 nano — fastest",
    "yolov8s.yaml": "YOLOv8 small",
    "yolov8m.yaml": "YOLOv8 medium — slow on a CPU",
    "yolo11n.yaml": "YOLO11 nano",
    "yolo11s.yaml": "YOLO11 small",
    "yolo11m.yaml": "YOLO11 medium — slow on a CPU",
    OTHER_MODEL: "Start from a registered model",
    PRETRAINED_MODEL: "Start from pretrained weights (upload a .pt)",
}
DEVICE_CHOICES = ("auto", "cpu", "0")
IMAGE_SIZES = tuple(range(64, 1281, 32))


def _version_text(name: str, version: DatasetVersion) -> str:
    images = count_text(version.counts.images)
    # No "3 min ago" here: an option's text must not change between reruns, or the widget forgets the choice.
    return f"{name} {version.label} · {images} images · {version.created_at:%Y-%m-%d %H:%M}"


def version_choice_ui(entries: list[tuple[str, DatasetVersion]]) -> tuple[str, DatasetVersion]:
    """Pick a dataset version (newest first) and show its validation status; returns (dataset name, version)."""
    by_id = {version.id: (name, version) for name, version in entries}
    if st.session_state.get("train_version") not in by_id:  # first visit, or back from another page
        worked_on = working_version()
        st.session_state["train_version"] = worked_on if worked_on in by_id else next(iter(by_id))
    pick, badge = st.columns([3, 2], vertical_alignment="bottom")
    chosen = pick.selectbox(
        "Dataset version",
        list(by_id),
        key="train_version",
        format_func=lambda vid: _version_text(*by_id[vid]),
        help="The model learns from this version's train split and is scored on its val split.",
    )
    name, version = by_id[chosen]
    remember_version(version.id)
    with badge:
        status_badge(version)
    return name, version


def data_check_ui(version: DatasetVersion) -> bool:
    """Explain the version's validation result; returns False while error-level issues block the launch."""
    issues = version.validation.by_severity
    split = version.counts
    st.caption(f"{count_text(split.train)} training images, {count_text(split.val)} validation images.")
    if version.validation_status == ValidationStatus.ERRORS:
        found = plural(issues.error, "error-level data issue") if issues.error else "error-level data issues"
        st.error(
            f"This version has {found}, such as broken images or "
            "boxes outside the picture. A model trained on it may learn the mistakes. Fix them on the Datasets "
            "page (the Quality tab lists each one), or train anyway.",
            icon="⛔",
        )
        st.page_link("pages/datasets.py", label="Open the quality report on Datasets", icon=":material/photo_library:")
        return st.checkbox("I understand the data has errors; train anyway", key="train_confirm_errors")
    if version.validation_status == ValidationStatus.WARNINGS:
        st.caption(
            f":orange[⚠️] {plural(issues.warning, 'warning') if issues.warning else 'Some warnings'}: training works, "
            "but the model may learn less. The Datasets page shows them."
        )
    elif version.validation_status == ValidationStatus.NOT_CHECKED:
        st.caption(":gray[❔] Not validated yet; the Datasets page can check it first.")
    return True


def preset_ui(params: Params) -> str:
    """Preset radio with a one-line explanation under each choice; returns the preset name or CUSTOM."""
    names = [*params.presets, CUSTOM]
    labels = {name: p.label for name, p in params.presets.items()} | {CUSTOM: "Custom"}
    captions = [p.description for p in params.presets.values()] + [
        "Choose the model, epochs, image size, batch, patience, device and seed yourself."
    ]
    if st.session_state.get("train_preset") not in names:
        st.session_state["train_preset"] = names[0]
    return st.radio("Preset", names, format_func=labels.get, captions=captions, key="train_preset")


def device_text(device: str) -> str:
    """How a device setting reads, with what "auto" resolves to on this machine."""
    if device == "auto":
        return f"auto (here: {'GPU 0' if gpu_available() else 'CPU'})"
    if device == "cpu":
        return "CPU"
    return f"GPU {device}"


def _model_help(model: str) -> str:
    if model.endswith((".yaml", ".yml")):
        return "trains from scratch, nothing to download"
    if model.startswith("pretrained:"):
        return "fine-tunes an uploaded base model's pretrained weights"
    if model.startswith("registered:") or "/" in model:
        return "starts from a registered model's weights"
    return "pretrained weights: needs internet unless the file is already on this machine"


def custom_ui(defaults: TrainConfig) -> dict[str, Any]:
    """The custom settings form (defaults from params.yaml); returns the train overrides it sets."""
    default_model = defaults.model if defaults.model in MODEL_CHOICES else OTHER_MODEL
    st.session_state.setdefault("train_model", default_model)
    left, right = st.columns(2)
    model = left.selectbox("Model", list(MODEL_CHOICES), format_func=MODEL_CHOICES.get, key="train_model")
    if model == OTHER_MODEL:
        # Only models the registry holds (checked against their recorded hash when the run starts): the console
        # never loads a file named by a visitor. `python -m jobs.train --model` takes any file.
        registered = registered_starting_points()
        if not registered:
            right.caption("No registered model yet: promote a run on the Models page first.")
        model = (
            right.selectbox("Registered model", list(registered), format_func=registered.get, key="train_model_reg")
            or "yolov8n.yaml"
        )
    elif model == PRETRAINED_MODEL:
        model = base_model_ui(right)  # None until one is uploaded: settings_ui then blocks the launch
    else:
        right.caption(f"`{model}`: {_model_help(model)}.")
    c1, c2, c3 = st.columns(3)
    epochs = c1.number_input(
        "Epochs", 1, 10_000, defaults.epochs, key="train_epochs", help="Passes over all training images."
    )
    imgsz = c2.select_slider(
        "Image size (px)",
        IMAGE_SIZES,
        value=defaults.imgsz if defaults.imgsz in IMAGE_SIZES else 256,
        key="train_imgsz",
        help="Bigger finds small food better but trains slower (time grows with the square of the size).",
    )
    batch = c3.number_input(
        "Batch", 1, 1024, defaults.batch, key="train_batch", help="Images per step; lower it if memory runs out."
    )
    c4, c5, c6 = st.columns(3)
    patience = c4.number_input(
        "Patience",
        0,
        10_000,
        defaults.patience,
        key="train_patience",
        help="Stop after this many epochs without improvement.",
    )
    device = c5.selectbox(
        "Device",
        DEVICE_CHOICES,
        index=DEVICE_CHOICES.index(defaults.device) if defaults.device in DEVICE_CHOICES else 0,
        format_func=device_text,
        key="train_device",
        help="auto uses the first CUDA GPU when there is one, else the CPU.",
    )
    seed = c6.number_input("Seed", 0, 2**31 - 1, defaults.seed, key="train_seed", help="Same seed, same run.")
    return {
        "model": model or None,
        "epochs": int(epochs),
        "imgsz": int(imgsz),
        "batch": int(batch),
        "patience": int(patience),
        "device": device,
        "seed": int(seed),
    }


def settings_ui(params: Params) -> tuple[str | None, TrainConfig | None]:
    """Preset or custom settings; returns (preset or None, the resolved config or None if invalid)."""
    preset = preset_ui(params)
    overrides: dict[str, Any] = {}
    if preset == CUSTOM:
        with st.container(border=True):
            overrides = custom_ui(params.train)
    chosen = None if preset == CUSTOM else preset
    if preset == CUSTOM and st.session_state.get("train_model") == PRETRAINED_MODEL and not overrides.get("model"):
        st.info("Upload a pretrained checkpoint (or pick another model) to start training.", icon=":material/info:")
        return chosen, None
    try:
        cfg = build_config(chosen, overrides)
    except PlateOpsError as exc:
        st.error(f"These settings cannot be used: {plain(exc)}", icon="⛔")
        return chosen, None
    st.caption(
        f"Model `{cfg.model}` ({_model_help(cfg.model)}) · {cfg.epochs} epochs · {cfg.imgsz} px · "
        f"batch {cfg.batch} · patience {cfg.patience} · device {device_text(cfg.device)} · seed {cfg.seed}"
    )
    return chosen, cfg


def estimate_ui(cfg: TrainConfig, version: DatasetVersion) -> None:
    """The estimated training time for this config on this version, with what the estimate rests on."""
    counts = version.counts
    on_gpu = device_runs_on_gpu(cfg.device)
    with st.spinner("Timing a training step on this computer (once per model)…"):
        estimate = call(
            estimate_training, cfg, counts.train or 0, counts.val or 0, on_gpu=on_gpu, action="Estimating the time"
        )
    if estimate is None:
        return
    if estimate.time is None:
        st.markdown(f"⏱️ **Estimated time:** {estimate.basis}")
        return
    st.markdown(f"⏱️ **Estimated time: {estimate.time.text()}**, final evaluation included")
    st.caption(f"Basis: {estimate.basis}. Once the first epoch ends, the time left is measured from the run itself.")
