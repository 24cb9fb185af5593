"""The gate's verdict on one candidate: both models scored on the evaluation set, the figures and intervals, the
paired comparison, and the reasons (see `backend.registry.gate` for the rules).

`judge` takes what `backend.registry.service.run_gate` resolved (the models' weights, the evaluation set and its
images, the candidate's own split) and a score function, so tests can hand it matched tables built by hand.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from backend.core.params import Params
from backend.registry.eval_set import EvalSetSpec
from backend.registry.gate import (
    GateFigures,
    ScoreFn,
    bootstrap_info,
    class_checks,
    class_mapping,
    decide,
    latency_reasons,
    mapping_reason,
    own_split_keys,
    paired_keys,
    size_reasons,
    summary,
)
from backend.training.bootstrap import bootstrap_figures, paired_difference
from backend.training.matching import EvalImages, ModelScore


@dataclass(frozen=True)
class Contender:
    """A model the gate scores: its registry id, run and verified weights, and the score function for it."""

    model_id: int
    run_id: int | None
    weights: Path
    score: ScoreFn


@dataclass(frozen=True)
class OwnSplit:
    """The candidate's own validation split (shown beside the evaluation set, never deciding)."""

    name: str
    images: EvalImages | None  # None: it is the evaluation set itself (the candidate's score is reused)


def judge(
    candidate: Contender,
    production: Contender | None,
    *,
    spec: EvalSetSpec,
    images: EvalImages,
    own_split: OwnSplit | None,
    confirm_classes: bool,
    params: Params,
) -> GateFigures:
    """Score both models on the evaluation set and decide.

    Args:
        candidate: The candidate.
        production: The production model, or None (first promotion).
        spec: The evaluation set.
        images: Its images.
        own_split: The candidate's own validation split, or None when it has none.
        confirm_classes: The promoter confirmed the class mapping.
        params: The project params (`registry` thresholds; `evaluate` bootstrap settings).

    Returns:
        The figures and the verdict (`passed`); `promoted` is left to the caller.
    """
    registry = params.registry
    cand_score = candidate.score(candidate.weights, images)
    prod_score = production.score(production.weights, images) if production is not None else None
    cand = bootstrap_figures(cand_score.table)
    prod = bootstrap_figures(prod_score.table) if prod_score is not None else None
    paired = paired_difference(cand_score.table, prod_score.table) if prod_score is not None else None
    mapping = class_mapping(images.classes, cand_score.table.model_classes)
    checks = class_checks(cand, prod, paired, params=registry)

    compared = list(mapping.matched)  # the classes the verdict is about: those either model knows
    if prod_score is not None:
        known = class_mapping(images.classes, prod_score.table.model_classes).matched
        compared += [name for name in known if name not in compared]
    # nothing to tell apart at the first promotion: only the latency budget applies then
    too_small = (
        size_reasons(spec.label, spec.images, spec.class_instances, compared, params=registry)
        if production is not None
        else []
    )
    needs_confirmation = mapping.differs and not confirm_classes
    if needs_confirmation:
        reasons = [mapping_reason(spec.label, mapping)]
    elif too_small:
        reasons = too_small + latency_reasons(cand_score.latency_ms, params=registry)
    else:
        reasons = decide(checks, paired, cand_score.latency_ms, label=spec.label, params=registry)
    return GateFigures(
        candidate_model_id=candidate.model_id,
        candidate_run_id=candidate.run_id,
        production_model_id=production.model_id if production is not None else None,
        dataset=spec.label,
        data_yaml=str(images.data_yaml),
        passed=not reasons,
        reasons=reasons,
        classes=checks,
        candidate=summary(cand, cand_score.latency_ms),
        production=summary(prod, prod_score.latency_ms) if prod is not None and prod_score is not None else {},
        max_ap50_drop=registry.max_ap50_drop,
        latency_budget_ms=registry.latency_budget_ms,
        eval_set={
            "name": spec.name,
            "number": spec.number,
            "split": spec.split,
            "dataset_version_id": spec.dataset_version_id,
            "images": spec.images,
            "instances": spec.instances,
        },
        own_split=_own_split(candidate, own_split, cand_score),
        paired=paired_keys(paired),
        class_mapping=mapping.to_dict(),
        needs_confirmation=needs_confirmation,
        classes_confirmed=confirm_classes,
        refused=bool(too_small) and not needs_confirmation,
        bootstrap=bootstrap_info(cand),
    )


def _own_split(candidate: Contender, own: OwnSplit | None, on_set: ModelScore) -> dict[str, object]:
    """The candidate's figures on its own validation split (the evaluation set's, when it is that split)."""
    if own is None:
        return {}
    score = on_set if own.images is None else candidate.score(candidate.weights, own.images)
    return own_split_keys(own.name, bootstrap_figures(score.table))
