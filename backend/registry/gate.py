"""The promotion gate's decision: candidate and production judged on the task's evaluation set, with intervals.

Both models are scored on the evaluation set (`backend.registry.eval_set`), never on the candidate's own validation
split (shown beside, for reference). The gate compares them with a paired bootstrap over the set's images and blocks
a promotion when:

- the production model is better beyond the interval: the upper bound of the candidate's mAP50 minus production's
  is below 0;
- the candidate is not shown better (`registry.require_shown_better`, on by default): the lower bound of that
  difference is not above 0, so the gain may be noise;
- any class's AP50 drops by more than `registry.max_ap50_drop`;
- the candidate's CPU latency per image exceeds `registry.latency_budget_ms`.

With a production model to compare, it refuses to decide (blocks, saying so) when the set is too small to tell
(`registry.eval_min_images` images, `registry.eval_min_instances` boxes of each compared class) and, before
anything, when the candidate's classes and the set's differ until the class mapping is confirmed. A written reason
overrides a block or a refusal (not an unconfirmed mapping); the figures are kept in the model history either way.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from backend.core.params import RegistryParams
from backend.training.bootstrap import METHOD, Figures, Interval, PairedDifference, interval_keys
from backend.training.matching import EvalImages, ModelScore

# score(weights, images) -> the model's matched detections on the images and its CPU latency
ScoreFn = Callable[[Path, EvalImages], ModelScore]


@dataclass(frozen=True)
class ClassMapping:
    """How a model's classes line up with the evaluation set's, by name (the order may differ).

    Attributes:
        matched: Classes both have.
        missing_in_model: The set's classes the model lacks (it scores AP 0 on them).
        not_in_set: The model's classes the set lacks (not scored: the set has no box of them).
        reordered: The same names in another order (mapped by name; nothing to confirm).
    """

    matched: tuple[str, ...]
    missing_in_model: tuple[str, ...]
    not_in_set: tuple[str, ...]
    reordered: bool

    @property
    def differs(self) -> bool:
        """True when the lists hold different names (a mapping to confirm)."""
        return bool(self.missing_in_model or self.not_in_set)

    def text(self) -> str:
        """Plain words, e.g. "11 classes match; the candidate lacks pizza; the set lacks soup"."""
        parts = [f"{len(self.matched)} classes match"]
        if self.missing_in_model:
            parts.append("the candidate lacks " + ", ".join(self.missing_in_model))
        if self.not_in_set:
            parts.append("the set lacks " + ", ".join(self.not_in_set))
        if self.reordered:
            parts.append("in another order (mapped by name)")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        """JSON form."""
        return {
            "matched": list(self.matched),
            "missing_in_candidate": list(self.missing_in_model),
            "not_in_set": list(self.not_in_set),
            "reordered": self.reordered,
        }


def class_mapping(set_classes: Sequence[str], model_classes: Sequence[str]) -> ClassMapping:
    """Compare a model's class list with the evaluation set's, by name."""
    model = set(model_classes)
    matched = tuple(name for name in set_classes if name in model)
    return ClassMapping(
        matched=matched,
        missing_in_model=tuple(name for name in set_classes if name not in model),
        not_in_set=tuple(name for name in model_classes if name not in set(set_classes)),
        reordered=tuple(name for name in model_classes if name in matched) != matched,
    )


@dataclass(frozen=True)
class ClassCheck:
    """One class's AP50 on the evaluation set, candidate vs production.

    Attributes:
        name: Class name.
        candidate_ap50: The candidate's AP50.
        production_ap50: The production model's AP50 (None without a production model).
        delta: candidate - production (None without a production model).
        blocked: True when the drop exceeds the allowed drop.
        instances: The set's boxes of this class.
        candidate_low: Lower end of the candidate's 95 % interval (and `_high`, the upper end).
        production_low: Production's interval (None without one).
        delta_low: The paired difference's interval (None without a production model).
    """

    name: str
    candidate_ap50: float
    production_ap50: float | None
    delta: float | None
    blocked: bool
    instances: int = 0
    candidate_low: float | None = None
    candidate_high: float | None = None
    production_low: float | None = None
    production_high: float | None = None
    delta_low: float | None = None
    delta_high: float | None = None


@dataclass
class GateFigures:
    """Everything the gate measured and decided; printed by `jobs.promote` and stored in the model history.

    Attributes:
        candidate_model_id: Registry id of the candidate.
        candidate_run_id: Its training run.
        production_model_id: The production model it was compared with, or None (first promotion).
        dataset: The basis of the verdict in words: "eval set 'demo-food v1 val' (80 images, 412 boxes)".
        data_yaml: The data.yaml of the evaluation set's dataset version.
        passed: True when nothing blocks.
        promoted: True when the candidate became production (passed, or overridden with a reason).
        overridden: True when a written reason overrode a block.
        reasons: Plain-language reasons for a block (each names the evaluation set where it is about accuracy).
        classes: Per-class AP50 checks on the evaluation set.
        candidate: The candidate on the evaluation set: map50, map50_low, map50_high, map50_95 (and its interval),
            precision, recall, latency_ms.
        production: The production model's same figures (empty without one).
        max_ap50_drop: The allowed drop.
        latency_budget_ms: The CPU latency budget.
        eval_set: The evaluation set: name, number (its version), split, dataset_version_id, images, instances.
        own_split: The candidate on its own validation split, shown beside (never deciding): dataset, images,
            instances and the same figures; empty when it has none.
        paired: candidate - production on the same resampled images: map50_delta (and _low, _high), map50_95_delta
            (and its interval), per_class ({name: ap50_delta and its interval}); empty without a production model.
        class_mapping: matched, missing_in_candidate, not_in_set, reordered.
        needs_confirmation: The class lists differ and the mapping was not confirmed (blocks even with a reason).
        classes_confirmed: The promoter confirmed the class mapping.
        refused: The set is too small to tell, so the gate refused to decide.
        bootstrap: samples, seed and method of the intervals.
    """

    candidate_model_id: int
    candidate_run_id: int | None
    production_model_id: int | None
    dataset: str
    data_yaml: str
    passed: bool = False
    promoted: bool = False
    overridden: bool = False
    reasons: list[str] = field(default_factory=list)
    classes: list[ClassCheck] = field(default_factory=list)
    candidate: dict[str, Any] = field(default_factory=dict)
    production: dict[str, Any] = field(default_factory=dict)
    max_ap50_drop: float = 0.05
    latency_budget_ms: float = 0.0
    eval_set: dict[str, Any] = field(default_factory=dict)
    own_split: dict[str, Any] = field(default_factory=dict)
    paired: dict[str, Any] = field(default_factory=dict)
    class_mapping: dict[str, Any] = field(default_factory=dict)
    needs_confirmation: bool = False
    classes_confirmed: bool = False
    refused: bool = False
    bootstrap: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON form (what `jobs.promote` prints and the model history keeps)."""
        return asdict(self)


SUMMARY_KEYS = ("map50", "map50_95", "precision", "recall", "latency_ms")


def summary(figures: Figures | None, latency_ms: float | None) -> dict[str, Any]:
    """The headline figures with their intervals: map50, map50_low, map50_high, map50_95 (and interval), precision,
    recall, latency_ms, images, instances."""
    if figures is None:
        return {}
    data = figures.to_dict()
    data.pop("per_class")
    for key in ("bootstrap_samples", "bootstrap_seed"):
        data.pop(key)
    return {**data, "latency_ms": latency_ms}


def bootstrap_info(figures: Figures) -> dict[str, Any]:
    """How the intervals were made."""
    return {"samples": figures.samples, "seed": figures.seed, "confidence": 0.95, "method": METHOD}


def size_reasons(
    label: str, images: int, class_instances: dict[str, int], compared: Sequence[str], *, params: RegistryParams
) -> list[str]:
    """Why the set is too small to tell the models apart (empty when it is big enough).

    Args:
        label: The set as reasons name it.
        images: Its images.
        class_instances: Its boxes per class.
        compared: The classes the verdict is about (those the candidate or production knows).
        params: The gate's minimums.
    """
    short = []
    if images < params.eval_min_images:
        short.append(f"{images} images, at least {params.eval_min_images} needed")
    thin = [
        f"{name} {class_instances.get(name, 0)}"
        for name in compared
        if class_instances.get(name, 0) < params.eval_min_instances
    ]
    if thin:
        short.append(f"too few boxes of {', '.join(thin)} (at least {params.eval_min_instances} of each needed)")
    if not short:
        return []
    return [
        f"Refusing to decide: {label} is too small to tell the models apart ({'; '.join(short)}). Grow it (adopt an "
        "edited version) or choose a bigger evaluation set on the Models page, or write a reason to override."
    ]


def mapping_reason(label: str, mapping: ClassMapping) -> str:
    """The block while a differing class mapping is not confirmed."""
    return (
        f"The candidate's classes and those of {label} differ ({mapping.text()}); confirm the class mapping before "
        "the gate compares them (the checkbox on the Models page, --confirm-classes on jobs.promote)."
    )


def _value(interval: Interval | None) -> float:
    return interval.value if interval is not None else 0.0


def class_checks(
    candidate: Figures, production: Figures | None, paired: PairedDifference | None, *, params: RegistryParams
) -> list[ClassCheck]:
    """Per-class AP50 of both models on the set (classes with boxes in it), and whether each drop blocks."""
    checks = []
    for name, mine in candidate.per_class.items():
        if mine.instances == 0:
            continue
        theirs = production.per_class.get(name) if production is not None else None
        cand_ap = round(_value(mine.ap50), 4)
        prod_ap = None if production is None else round(_value(theirs.ap50 if theirs else None), 4)
        delta = None if prod_ap is None else round(cand_ap - prod_ap, 4)
        diff = paired.per_class.get(name) if paired is not None else None
        checks.append(
            ClassCheck(
                name=name,
                candidate_ap50=cand_ap,
                production_ap50=prod_ap,
                delta=delta,
                blocked=delta is not None and -delta > params.max_ap50_drop + 1e-9,
                instances=mine.instances,
                candidate_low=mine.ap50.low if mine.ap50 else None,
                candidate_high=mine.ap50.high if mine.ap50 else None,
                production_low=theirs.ap50.low if theirs and theirs.ap50 else None,
                production_high=theirs.ap50.high if theirs and theirs.ap50 else None,
                delta_low=diff.low if diff else None,
                delta_high=diff.high if diff else None,
            )
        )
    return checks


def decide(
    checks: list[ClassCheck],
    paired: PairedDifference | None,
    latency_ms: float | None,
    *,
    label: str,
    params: RegistryParams,
) -> list[str]:
    """The reasons to block a candidate judged on the evaluation set (none: it passes).

    Args:
        checks: Per-class checks (`class_checks`).
        paired: Candidate minus production on the same resamples; None without a production model.
        latency_ms: The candidate's CPU latency per image (None when it could not be measured).
        label: The evaluation set as reasons name it.
        params: The gate's thresholds.
    """
    reasons = []
    diff = paired.map50 if paired is not None else None
    if diff is not None and diff.low is not None and diff.high is not None:
        if diff.high < 0:
            reasons.append(
                f"On {label} the production model is better: mAP50 difference {diff.value:+.3f} (95 % interval "
                f"{diff.low:+.3f} to {diff.high:+.3f}, entirely below 0)."
            )
        elif params.require_shown_better and diff.low <= 0:
            reasons.append(
                f"Not shown better: mAP50 {diff.value:+.3f} ({diff.low:+.3f} to {diff.high:+.3f}, 95 % interval of the "
                f"paired difference) on {label}; the candidate must beat production beyond the interval."
            )
    for check in checks:
        if check.blocked and check.production_ap50 is not None and check.delta is not None:
            reasons.append(
                f"{check.name}: AP50 drops from {check.production_ap50:.3f} to {check.candidate_ap50:.3f} "
                f"({check.delta:+.3f}; at most -{params.max_ap50_drop:.3f} allowed) on {label}"
            )
    reasons += latency_reasons(latency_ms, params=params)
    return reasons


def latency_reasons(latency_ms: float | None, *, params: RegistryParams) -> list[str]:
    """The block when the candidate is too slow (or could not be timed)."""
    if latency_ms is None:
        return ["the candidate's CPU latency could not be measured (no evaluation images)"]
    if float(latency_ms) > params.latency_budget_ms:
        budget = params.latency_budget_ms
        return [f"CPU latency {float(latency_ms):.1f} ms per image is over the {budget:g} ms budget"]
    return []


def paired_keys(paired: PairedDifference | None) -> dict[str, Any]:
    """The paired difference as JSON (empty without one)."""
    return paired.to_dict() if paired is not None else {}


def own_split_keys(name: str, figures: Figures | None) -> dict[str, Any]:
    """The candidate's figures on its own validation split, as JSON (empty without one)."""
    if figures is None:
        return {}
    data = summary(figures, None)
    data.pop("latency_ms")
    return {
        "dataset": name,
        **data,
        **{"per_class": {k: interval_keys("ap50", v.ap50) for k, v in figures.per_class.items() if v.ap50}},
    }
