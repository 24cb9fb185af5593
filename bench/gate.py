"""Gate benchmark: over many seeds, how often the promotion gate wrongly promotes a candidate that is not better
than production, and how often it wrongly refuses one that is.

No model runs: each seed draws an evaluation set (images with boxes of a few classes) and, for each model, which
boxes it finds (each with probability `recall`, a confident score) and a few false alarms (lower scores). The
matching, the paired bootstrap and the decision rules are the gate's own (`backend.training.matching.build_table`,
`backend.training.bootstrap`, `backend.registry.gate.class_checks` / `decide`) with the params.yaml defaults.

Run: python -m bench.gate [--seeds 10] [--images 60] [--no-write]   (a few seconds per verdict on 2 CPU cores)
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bench.report import machine, table, write_section

CLASSES = ("apple", "banana", "carrot", "egg")
BOXES_PER_IMAGE = 3
FALSE_ALARMS_PER_IMAGE = 1.0
# (pair, candidate recall - production recall); production finds 60 % of the boxes
PAIRS = (
    ("much worse (−0.15)", -0.15),
    ("slightly worse (−0.05)", -0.05),
    ("equal (0)", 0.0),
    ("slightly better (+0.05)", 0.05),
    ("better (+0.10)", 0.10),
    ("much better (+0.20)", 0.20),
)
PRODUCTION_RECALL = 0.6


def _eval_set(rng: np.random.Generator, images: int) -> object:
    from backend.training.matching import EvalImages

    boxes, labels = [], []
    for _ in range(images):
        # ground truth in the top band, side by side (no overlap); false alarms go in the bottom band
        xs = np.arange(BOXES_PER_IMAGE) * 0.3 + 0.02
        boxes.append(np.stack([xs, np.full_like(xs, 0.05), xs + 0.25, np.full_like(xs, 0.3)], axis=1))
        labels.append(rng.integers(0, len(CLASSES), BOXES_PER_IMAGE).astype(np.int64))
    names = tuple(Path(f"img_{i:04d}.jpg") for i in range(images))
    return EvalImages(Path("synthetic/data.yaml"), "val", CLASSES, names, tuple(boxes), tuple(labels))


def _detections(rng: np.random.Generator, images: object, recall: float) -> list:
    found = []
    for boxes, labels in zip(images.boxes, images.labels, strict=True):  # type: ignore[attr-defined]
        hit = rng.random(len(labels)) < recall
        alarms = rng.poisson(FALSE_ALARMS_PER_IMAGE)
        xs = rng.random(alarms) * 0.7
        alarm_boxes = np.stack([xs, np.full(alarms, 0.6), xs + 0.25, np.full(alarms, 0.9)], axis=1)
        found.append(
            (
                np.concatenate([boxes[hit], alarm_boxes]),
                np.concatenate([rng.uniform(0.5, 1.0, hit.sum()), rng.uniform(0.05, 0.7, alarms)]),
                np.concatenate([labels[hit], rng.integers(0, len(CLASSES), alarms)]),
            )
        )
    return found


def verdict(seed: int, gain: float, *, images: int) -> tuple[bool, str, float, float, float]:
    """One constructed pair: (passed, first rule that blocked, paired mAP50 difference and its interval)."""
    from backend.core.params import get_params
    from backend.registry.gate import class_checks, decide
    from backend.training.bootstrap import bootstrap_figures, paired_difference
    from backend.training.matching import build_table

    rng = np.random.default_rng(seed)
    params = get_params()
    eval_set = _eval_set(rng, images)
    prod = build_table(eval_set, _detections(rng, eval_set, PRODUCTION_RECALL), CLASSES)  # type: ignore[arg-type]
    cand = build_table(eval_set, _detections(rng, eval_set, PRODUCTION_RECALL + gain), CLASSES)  # type: ignore[arg-type]
    paired = paired_difference(cand, prod)
    checks = class_checks(bootstrap_figures(cand), bootstrap_figures(prod), paired, params=params.registry)
    reasons = decide(checks, paired, 10.0, label="eval set 'synthetic'", params=params.registry)
    rule = ""
    if reasons:
        first = reasons[0]
        rule = "not shown better" if first.startswith("Not shown") else "production better"
        rule = "class drop" if "AP50 drops" in first else rule
    diff = paired.map50
    return not reasons, rule, diff.value, diff.low or 0.0, diff.high or 0.0


def main() -> None:
    """Run the pairs over the seeds and write the BENCHMARKS.md section."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = []
    for label, gain in PAIRS:
        results = [verdict(seed, gain, images=args.images) for seed in range(args.seeds)]
        passed = sum(r[0] for r in results)
        rules = {rule: sum(1 for r in results if r[1] == rule) for rule in ("production better", "not shown better")}
        rules["class drop"] = sum(1 for r in results if r[1] == "class drop")
        first = results[0]
        wrong = passed if gain <= 0 else args.seeds - passed
        rows.append(
            (
                label,
                f"{passed}/{args.seeds}",
                f"{'promoted' if gain <= 0 else 'refused'} {wrong / args.seeds:.0%}",
                ", ".join(f"{k} {v}" for k, v in rules.items() if v) or "–",
                f"{first[2]:+.3f} ({first[3]:+.3f} to {first[4]:+.3f})",
            )
        )
    elapsed = time.perf_counter() - started
    body = (
        "## Promotion gate (`bench/gate.py`)\n\n"
        f"Constructed candidate/production pairs on simulated evaluation sets of {args.images} images "
        f"({BOXES_PER_IMAGE} boxes each, {len(CLASSES)} classes, about {FALSE_ALARMS_PER_IMAGE:g} false alarm per "
        f"image per model), {args.seeds} seeds per pair. Production finds {PRODUCTION_RECALL:.0%} of the boxes; the "
        "candidate finds that plus the gain shown. The gate's own matching, paired bootstrap (1000 resamples) and "
        "rules with the params.yaml defaults (block when production is better beyond the 95 % interval, when the "
        "candidate is not shown better, or when a class's AP50 drops by more than 0.05). A wrong verdict is a "
        "promotion of a candidate that is not better, or a refusal of one that is. The last column is seed 0's "
        "paired mAP50 difference with its interval.\n\n"
        + table(rows, ("pair", "promoted", "wrong verdicts", "blocked by (first reason)", "seed 0: Δ mAP50 (95 %)"))
        + f"\n\n{machine()}; {elapsed:.0f} s in all."
    )
    print(body)
    if not args.no_write:
        write_section("gate", body)


if __name__ == "__main__":
    main()
