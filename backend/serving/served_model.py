"""`ServingModel`: which model answers detection requests, as a record (where its weights are, how it is named in
words and in the prediction log, its per-class thresholds).

`backend.serving.service` decides which model that is (`serving_model`, `registered_model`) and loads it
(`load_detector`); the prediction step (`backend.serving.prediction`) and the prediction log
(`backend.serving.prediction_log`) only read the record, so they sit below the service.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from backend.core.params import get_params


@dataclass(frozen=True)
class ServingModel:
    """The model that answers detection requests.

    Attributes:
        model_id: Registry id when the model is registered (production), else None.
        run_id: The training run it came from, when known.
        name: The model's or run's name.
        label: Plain-language "which model answered", e.g. "production model food-v3 (#4)".
        weights: The weights file to load (.pt from our training, or the ONNX export when the .pt is gone).
        kind: "pt", "onnx" or "openvino" (the model file a runtime choice picked: `.onnx` or `model.xml`).
        production: True when it is the registry's production model; False for the newest-run fallback.
        class_thresholds: Per-class confidence thresholds set in the registry ({class: 0..1}); may be empty.
        mtime_ns: Modification time of `weights`, part of every cache key so replaced weights reload.
        sha256: The sha256 recorded for `weights` at registration ("" for an unregistered run's weights).
        warning: Set when the production model was refused and an earlier one answers instead.
    """

    model_id: int | None
    run_id: int | None
    name: str
    label: str
    weights: Path
    kind: Literal["pt", "onnx", "openvino"]
    production: bool
    class_thresholds: dict[str, float] = field(default_factory=dict, hash=False, compare=False)
    mtime_ns: int = 0
    sha256: str = ""
    warning: str = ""

    @property
    def cache_key(self) -> str:
        """A string that changes whenever a different model or different weights would answer."""
        return f"{self.model_id}:{self.run_id}:{self.weights}:{self.mtime_ns}"

    @property
    def log_label(self) -> str:
        """The `model_label` written into prediction rows ("model 4: food-v3" or "run 7: yolov8n-demo")."""
        return f"model {self.model_id}: {self.name}" if self.model_id is not None else f"run {self.run_id}: {self.name}"

    @property
    def default_conf(self) -> float:
        """Confidence slider default: the lowest per-class threshold when any is set, else `detect.conf`."""
        return min(self.class_thresholds.values()) if self.class_thresholds else get_params().detect.conf

    @property
    def default_iou(self) -> float:
        """IoU slider default (non-maximum suppression)."""
        return get_params().detect.iou
