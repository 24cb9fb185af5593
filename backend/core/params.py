"""Hyperparameters: `params.yaml` (also DVC's params file) loaded into pydantic models that refuse unknown keys.

Typical use::

    params = get_params()  # the project's params.yaml (settings.params_file), read once per change of the file
    cfg = params.train_config(preset="quick_cpu", overrides={"epochs": 3})

Every default a job, a page or a command uses lives here once: in `params.yaml`, mirrored by the field defaults
below (a test checks that the two agree), and read through `get_params()`. Code never repeats a value such as the
detection confidence or the validation share as a literal; it reads the section (`get_params().detect.conf`).
Presets are named bundles of train overrides; user overrides merge on top of the preset.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from backend.core.errors import BadInputError


class _Strict(BaseModel):
    """Base model: unknown keys are an error, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DemoParams(_Strict):
    """The demo dataset generator."""

    images: int = Field(default=400, ge=10, description="Number of images the demo generator makes.")
    seed: int = Field(default=0, description="Random seed of the demo generator.")


class PrepareParams(_Strict):
    """COCO/YOLO import and the train/val split."""

    val_fraction: float = Field(default=0.2, gt=0, lt=1, description="Share of images in the validation split.")
    seed: int = Field(default=0, description="Random seed of the train/val split.")


class QualityParams(_Strict):
    """Limits of the data-quality checks that flag unusual photos (warnings; see `params.yaml`)."""

    dark_max_p95: float = Field(default=50.0, ge=0, le=255, description="Dark when the 95th grey percentile is under.")
    light_min_p5: float = Field(default=200.0, ge=0, le=255, description="Light when the 5th grey percentile is over.")
    blurry_max_sharpness: float = Field(default=60.0, ge=0, description="Blurry under this Laplacian variance.")
    grayscale_max_colour: float = Field(default=4.0, ge=0, le=255, description="Grayscale at or under this spread.")
    max_aspect_ratio: float = Field(default=2.5, gt=1, description="Odd when long side / short side exceeds this.")
    low_information_max_entropy: float = Field(default=4.0, ge=0, le=8, description="Low under this entropy (bits).")


class TrainConfig(_Strict):
    """Everything one training run needs besides the data (see `params.yaml` for each key's meaning)."""

    model: str = Field(default="yolov8n.yaml", min_length=1, description="Architecture .yaml, local .pt or name.")
    epochs: int = Field(default=10, ge=1, le=10_000)
    imgsz: int = Field(default=256, ge=32, le=4096)
    batch: int = Field(default=16, ge=1, le=1024)
    nbs: int = Field(default=16, ge=1, le=1024)
    patience: int = Field(default=20, ge=0)
    device: str = Field(default="auto", description="auto, cpu, or a CUDA index such as 0.")
    seed: int = 0
    workers: int = Field(default=2, ge=0, le=64)
    optimizer: Literal["SGD", "MuSGD", "Adam", "Adamax", "AdamW", "NAdam", "RAdam", "RMSProp", "auto"] = "AdamW"
    lr0: float = Field(default=0.002, gt=0, le=1)
    lrf: float = Field(default=0.1, gt=0, le=1)
    cos_lr: bool = False
    warmup_epochs: float = Field(default=0.5, ge=0)
    mosaic: float = Field(default=1.0, ge=0, le=1)
    close_mosaic: int = Field(default=3, ge=0)
    fliplr: float = Field(default=0.5, ge=0, le=1)
    scale: float = Field(default=0.5, ge=0, le=1)
    fraction: float = Field(default=1.0, gt=0, le=1)
    cache: Literal["ram", "disk", "none"] = "ram"
    amp: bool = True
    plots: bool = False
    deterministic: bool = True
    resume: bool = Field(default=False, description="Continue the run in the output folder from its last.pt.")

    @field_validator("device", mode="before")
    @classmethod
    def _device_text(cls, value: Any) -> str:
        """Accept `0` (int) as well as "0" and normalise case."""
        text = str(value).strip().lower()
        if text in {"auto", "cpu", "mps"} or all(part.isdigit() for part in text.split(",")):
            return text
        raise ValueError("device must be 'auto', 'cpu', 'mps' or a CUDA index such as 0 (or 0,1)")

    @field_validator("cache", mode="before")
    @classmethod
    def _cache_text(cls, value: Any) -> Any:
        """Accept YAML booleans: true means RAM, false/null means no cache."""
        if value is True:
            return "ram"
        if value is False or value is None:
            return "none"
        return value

    def ultralytics_args(self) -> dict[str, Any]:
        """The keyword arguments for `YOLO.train` (without data, device, output folder and resume)."""
        args = self.model_dump(exclude={"model", "device", "resume"})
        args["cache"] = False if self.cache == "none" else self.cache
        return args


class EvaluateParams(_Strict):
    """Evaluation on the validation split."""

    imgsz: int = Field(default=256, ge=32, le=4096)
    conf: float = Field(default=0.001, ge=0, le=1)
    iou: float = Field(default=0.6, gt=0, le=1)
    bootstrap_samples: int = Field(
        default=1000, ge=50, le=100_000, description="Resamples of the images behind every 95 % interval."
    )
    bootstrap_seed: int = Field(default=0, description="Random seed of the bootstrap resampling.")


class RegistryParams(_Strict):
    """The promotion gate of the model registry (Models page, `jobs.promote`)."""

    max_ap50_drop: float = Field(
        default=0.05, ge=0, le=1, description="Largest AP50 drop of any class, candidate vs production."
    )
    latency_budget_ms: float = Field(default=150.0, gt=0, description="Highest CPU latency per image, ms.")
    latency_images: int = Field(default=10, ge=1, le=1000, description="Validation images timed for latency.")
    export_onnx: bool = Field(default=True, description="Export the ONNX model on promotion.")
    choose_runtime: bool = Field(
        default=True, description="On export, measure every CPU runtime and serve the fastest within the tolerance."
    )
    runtime_tolerance: float = Field(
        default=0.01, ge=0.0, le=1.0, description="mAP50 a served runtime may lose against PyTorch."
    )
    eval_min_images: int = Field(
        default=50, ge=1, description="Fewest evaluation-set images the gate decides on (else it refuses)."
    )
    eval_min_instances: int = Field(
        default=10, ge=1, description="Fewest boxes of each compared class the gate decides on (else it refuses)."
    )
    require_shown_better: bool = Field(
        default=True,
        description="Block a candidate whose mAP50 gain over production is not above 0 beyond the 95 % interval.",
    )


DriftMethod = Literal[
    "ks",
    "chisquare",
    "z",
    "wasserstein",
    "psi",
    "jensenshannon",
    "kl_div",
    "anderson",
    "cramer_von_mises",
    "mannw",
    "t_test",
    "hellinger",
    "energy_distance",
    "g_test",
    "TVD",
]


class FeatureTest(_Strict):
    """One monitored feature's drift test, overriding the section's method and threshold."""

    method: DriftMethod | None = Field(default=None, description="Evidently stat test name.")
    threshold: float | None = Field(default=None, gt=0, description="p-value (p-value tests) or distance cut-off.")


class MonitorParams(_Strict):
    """Drift monitoring (Evidently reports on the prediction log; jobs.drift)."""

    window: int = Field(default=200, ge=10, le=1_000_000, description="Latest predictions a report compares.")
    min_window: int = Field(default=30, ge=5, description="Fewest predictions a report is built on.")
    drift_share: float = Field(default=0.08, gt=0, le=1, description="Share of drifted features that alarms.")
    num_method: DriftMethod = "ks"
    cat_method: DriftMethod = "chisquare"
    threshold: float = Field(default=0.001, gt=0, description="Per-feature p-value (or distance) cut-off.")
    features: dict[str, FeatureTest] = Field(default_factory=dict)
    auto_report_every: int = Field(default=200, ge=0, description="New predictions between automatic reports.")
    reference_images: int = Field(default=1000, ge=10, description="Most training images in the reference.")
    reference_held_out_min: int = Field(
        default=300, ge=1, description="Fewest held-out images that make the reference alone (else all images)."
    )
    estimate_alert: float = Field(
        default=0.4, ge=0, le=1, description="Alert when a window's estimated mAP50 falls below this."
    )
    embedding_alpha: float = Field(default=0.01, gt=0, lt=1, description="Embedding drift test's alarm p-value.")
    embedding_permutations: int = Field(
        default=200, ge=20, le=10_000, description="Permutations of the embedding drift test."
    )


class DetectParams(_Strict):
    """Detection as end users and the tools that run the serving model see it (Detect page, jobs.detect, pre-labels,
    the Monitor's reference run, run comparison)."""

    conf: float = Field(default=0.25, ge=0, le=1, description="Lowest confidence of a shown detection.")
    iou: float = Field(default=0.45, gt=0, le=1, description="IoU of non-maximum suppression.")
    floor: float = Field(default=0.3, gt=0, le=1, description="Calibrated probability under which nothing is shown.")
    likely: float = Field(default=0.6, gt=0, le=1, description="Calibrated probability called 'likely'.")
    very_likely: float = Field(default=0.8, gt=0, le=1, description="Calibrated probability called 'very likely'.")
    calibration_min_score: float = Field(
        default=0.05, ge=0, lt=1, description="Lowest raw score of the held-out detections a calibration is fitted on."
    )
    calibration_min_detections: int = Field(
        default=100, ge=10, description="Fewest held-out detections of a class for a calibration map of its own."
    )

    @model_validator(mode="after")
    def _words_in_order(self) -> DetectParams:
        """floor <= likely <= very_likely, or the words would contradict each other."""
        if not self.floor <= self.likely <= self.very_likely:
            raise ValueError("detect needs floor <= likely <= very_likely")
        return self


FamiliaritySignal = Literal["knn", "gram", "spread", "mahalanobis", "head", "pixels"]


def _default_signals() -> list[FamiliaritySignal]:
    return ["knn", "head", "pixels"]


class FamiliarityParams(_Strict):
    """The "is this photo like the training photos?" check (Detect page, jobs.detect; fitted when training ends)."""

    signals: list[FamiliaritySignal] = Field(
        default_factory=_default_signals, min_length=1, description="Signals summed into the score."
    )
    target_false_refusals: float = Field(
        default=0.05, gt=0, lt=0.5, description="Share of validation images the threshold may refuse."
    )
    fit_images: int = Field(default=1000, ge=10, description="Most training images the reference is fitted on.")
    val_images: int = Field(default=1000, ge=5, description="Most validation images that set the threshold.")


class SelectParams(_Strict):
    """Active learning: which logged traffic pictures to label next (Annotate's "Label the next", jobs.select)."""

    daily_cap: int = Field(default=200, ge=1, description="Most pictures picked for labelling per day (UTC).")
    low_confidence: float = Field(default=0.5, gt=0, lt=1, description="Best detection under this: uncertain.")
    duplicate_distance: float = Field(
        default=0.02, ge=0, lt=2, description="Cosine distance under which two pictures are near-duplicates."
    )
    reference_images: int = Field(default=300, ge=10, description="Most training images novelty compares with.")
    pool: int = Field(default=5000, ge=10, description="Newest unreviewed predictions scored per selection.")


class Preset(_Strict):
    """A named bundle of train overrides."""

    label: str = Field(min_length=1, description="Name shown in the console.")
    description: str = Field(min_length=1, description="One line saying when to use it.")
    overrides: dict[str, Any] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _known_keys(self) -> Preset:
        """A preset may only set train keys, with valid values."""
        merge_overrides(TrainConfig(), self.overrides)
        return self


class Params(_Strict):
    """The whole `params.yaml`."""

    demo: DemoParams = Field(default_factory=DemoParams)
    prepare: PrepareParams = Field(default_factory=PrepareParams)
    quality: QualityParams = Field(default_factory=QualityParams)
    train: TrainConfig = Field(default_factory=TrainConfig)
    evaluate: EvaluateParams = Field(default_factory=EvaluateParams)
    detect: DetectParams = Field(default_factory=DetectParams)
    familiarity: FamiliarityParams = Field(default_factory=FamiliarityParams)
    monitor: MonitorParams = Field(default_factory=MonitorParams)
    registry: RegistryParams = Field(default_factory=RegistryParams)
    select: SelectParams = Field(default_factory=SelectParams)
    presets: dict[str, Preset] = Field(default_factory=dict)

    def train_config(self, preset: str | None = None, overrides: Mapping[str, Any] | None = None) -> TrainConfig:
        """The train section with a preset (optional) and then user overrides (optional) applied.

        Args:
            preset: Name of a preset in `presets`, or None for the plain train section.
            overrides: Train keys to set on top; None values are ignored.

        Returns:
            A new, validated TrainConfig.

        Raises:
            BadInputError: Unknown preset, unknown key or invalid value.
        """
        cfg = self.train
        if preset:
            cfg = apply_preset(cfg, preset, self.presets)
        if overrides:
            cfg = merge_overrides(cfg, overrides)
        return cfg


def _describe_validation_error(error: ValidationError) -> str:
    """One plain line per problem in a pydantic error."""
    parts = []
    for item in error.errors():
        where = ".".join(str(p) for p in item["loc"]) or "value"
        parts.append(f"{where}: {item['msg']}")
    return "; ".join(parts)


def load_params(path: Path) -> Params:
    """Load and validate a params file.

    Args:
        path: The YAML file (usually the top-level `params.yaml`).

    Returns:
        The validated parameters.

    Raises:
        BadInputError: The file is missing, is not YAML, or has unknown keys or invalid values.
    """
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError as exc:
        raise BadInputError(f"Parameter file {path} does not exist.") from exc
    except yaml.YAMLError as exc:
        raise BadInputError(f"Parameter file {path} is not valid YAML: {exc}") from exc
    if not isinstance(data, dict):
        raise BadInputError(f"Parameter file {path} must hold a mapping of sections.")
    try:
        return Params.model_validate(data)
    except ValidationError as exc:
        raise BadInputError(f"Parameter file {path} is invalid: {_describe_validation_error(exc)}") from exc


def get_params(path: Path | None = None) -> Params:
    """The project's parameters: `path`, or the params file the settings name (`PLATEOPS_PARAMS_FILE`).

    Read once and cached until the file changes (its modification time is part of the key), so every caller in a
    process sees the same values and an edited file takes effect without a restart. A missing file gives the
    defaults, which mirror the shipped `params.yaml`.

    Raises:
        BadInputError: The file exists but is not valid YAML or holds unknown keys or invalid values.
    """
    if path is None:
        from backend.core.settings import get_settings

        path = get_settings().params_file
    resolved = Path(path).resolve()
    try:
        stamp = resolved.stat().st_mtime_ns
    except OSError:
        stamp = None
    return _cached_params(resolved, stamp)


@lru_cache(maxsize=8)
def _cached_params(path: Path, stamp: int | None) -> Params:
    return Params() if stamp is None else load_params(path)


def merge_overrides(cfg: TrainConfig, overrides: Mapping[str, Any]) -> TrainConfig:
    """Return a copy of `cfg` with `overrides` applied; None values are skipped.

    Args:
        cfg: The starting configuration.
        overrides: Train keys and their new values.

    Returns:
        A new, validated TrainConfig.

    Raises:
        BadInputError: A key is not a train setting (the message lists the allowed keys) or a value is invalid.
    """
    allowed = list(TrainConfig.model_fields)
    unknown = sorted(k for k in overrides if k not in allowed)
    if unknown:
        raise BadInputError(
            f"Unknown training setting(s): {', '.join(unknown)}. Allowed settings: {', '.join(allowed)}."
        )
    data = cfg.model_dump()
    data.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return TrainConfig.model_validate(data)
    except ValidationError as exc:
        raise BadInputError(f"Invalid training setting: {_describe_validation_error(exc)}") from exc


def apply_preset(cfg: TrainConfig, name: str, presets: Mapping[str, Preset] | None = None) -> TrainConfig:
    """Return `cfg` with the named preset's overrides applied.

    Args:
        cfg: The starting configuration (usually `params.train`).
        name: Preset name, e.g. "quick_cpu".
        presets: The available presets; None loads them from the params file named in the settings.

    Returns:
        A new, validated TrainConfig.

    Raises:
        BadInputError: No preset of that name (the message lists the known ones).
    """
    if presets is None:
        presets = get_params().presets
    if name not in presets:
        known = ", ".join(sorted(presets)) or "none defined"
        raise BadInputError(f"Unknown preset '{name}'. Known presets: {known}.")
    return merge_overrides(cfg, presets[name].overrides)
