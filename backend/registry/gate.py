"""The promotion gate: candidate and current production evaluated on the same frozen validation split.

A promotion is blocked when any class's AP50 drops by more than `registry.max_ap50_drop` or the candidate's CPU
latency per image exceeds `registry.latency_budget_ms` (both in params.yaml). A written reason overrides a block;
the figures are kept in the model history either way.

The validation split is the candidate's dataset version (frozen: versions are immutable), or the production model's
when the candidate has none; `GateFigures.dataset` says which.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from backend.core.params import RegistryParams

# evaluate(weights, data_yaml) -> the `jobs.evaluate` dict (map50, per_class, latency_ms, class_thresholds...)
EvaluateFn = Callable[[Path, Path], dict[str, Any]]


@dataclass(frozen=True)
class ClassCheck:
    """One class's AP50, candidate vs production.

    Attributes:
        name: Class name.
        candidate_ap50: The candidate's AP50 on the gate's split.
        production_ap50: The production model's AP50 on the same split (None without a production model).
        delta: candidate - production (None without a production model).
        blocked: True when the drop exceeds the allowed drop.
    """

    name: str
    candidate_ap50: float
    production_ap50: float | None
    delta: float | None
    blocked: bool


@dataclass
class GateFigures:
    """Everything the gate measured and decided; printed by `jobs.promote` and stored in the model history.

    Attributes:
        candidate_model_id: Registry id of the candidate.
        candidate_run_id: Its training run.
        production_model_id: The production model it was compared with, or None (first promotion).
        dataset: Which frozen split was used, e.g. "food v2 (candidate's dataset version)".
        data_yaml: The data.yaml of that split.
        passed: True when nothing blocks.
        promoted: True when the candidate became production (passed, or overridden with a reason).
        overridden: True when a written reason overrode a block.
        reasons: Plain-language reasons for a block.
        classes: Per-class AP50 checks.
        candidate: Candidate's map50, map50_95, precision, recall, latency_ms.
        production: The production model's same figures (empty without one).
        max_ap50_drop: The allowed drop.
        latency_budget_ms: The CPU latency budget.
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

    def to_dict(self) -> dict[str, Any]:
        """JSON form (what `jobs.promote` prints and the model history keeps)."""
        return asdict(self)


SUMMARY_KEYS = ("map50", "map50_95", "precision", "recall", "latency_ms")


def decide(
    candidate: dict[str, Any],
    production: dict[str, Any] | None,
    *,
    params: RegistryParams,
) -> tuple[list[ClassCheck], list[str]]:
    """Compare two evaluations of the same split; returns the per-class checks and the reasons to block (if any).

    Args:
        candidate: The candidate's evaluation dict (`per_class`: {name: {"ap50"}}, `latency_ms`).
        production: The production model's evaluation on the same split, or None when nothing is in production.
        params: The gate's thresholds.

    Returns:
        (checks, reasons); no reasons means the gate passes.
    """
    checks: list[ClassCheck] = []
    reasons: list[str] = []
    cand_classes = candidate.get("per_class") or {}
    prod_classes = (production or {}).get("per_class") or {}
    for name in sorted(set(cand_classes) | set(prod_classes)):
        cand_ap = float((cand_classes.get(name) or {}).get("ap50", 0.0))
        prod_ap = float((prod_classes.get(name) or {}).get("ap50", 0.0)) if production is not None else None
        delta = None if prod_ap is None else round(cand_ap - prod_ap, 4)
        blocked = delta is not None and -delta > params.max_ap50_drop + 1e-9
        checks.append(ClassCheck(name, round(cand_ap, 4), prod_ap, delta, blocked))
        if blocked and prod_ap is not None:
            reasons.append(
                f"{name}: AP50 drops from {prod_ap:.3f} to {cand_ap:.3f} ({delta:+.3f}; at most "
                f"-{params.max_ap50_drop:.3f} allowed)"
            )
    latency = candidate.get("latency_ms")
    if latency is None:
        reasons.append("the candidate's CPU latency could not be measured (no validation images)")
    elif float(latency) > params.latency_budget_ms:
        budget = params.latency_budget_ms
        reasons.append(f"CPU latency {float(latency):.1f} ms per image is over the {budget:g} ms budget")
    return checks, reasons


def summary(evaluation: dict[str, Any] | None) -> dict[str, Any]:
    """The headline figures of an evaluation dict."""
    return {key: (evaluation or {}).get(key) for key in SUMMARY_KEYS}
