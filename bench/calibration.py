"""Calibration benchmark: does the confidence the Detect page states hold on pictures it was not fitted on?

The Quick model's calibration is fitted exactly as training fits it (its val split, `training.held_out`), then
measured on a different held-out set: a fresh demo set of 200 pictures made with another seed (the generator of
`python -m jobs.demo_data --out DIR --images 200 --seed 5`; the model never saw them and the fit never saw them).
On that set: ECE (10 equal-width bins) of the raw scores and of the calibrated probabilities, overall and per class
with enough detections, with 95 % intervals from a bootstrap over pictures; and the reliability of each word the
page says (the share right among items called "very likely", "likely", "maybe", with Wilson 95 % intervals), with
the same words put on the raw scores for comparison.

Run: python -m bench.calibration [--weights W.pt] [--data DATA_YAML] [--images 200] [--seed 5]
"""

from __future__ import annotations

import argparse
import math
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from bench.report import table, write_section

QUICK_WEIGHTS = Path("/work/models/quick/weights/best.pt")
QUICK_DATA = Path("/work/models/prepared/data.yaml")
PER_CLASS_MIN = 30  # fewest detections of a class on the measuring set for its own ECE row
RESAMPLES = 1000


def wilson(right: int, total: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson 95 % interval of a share."""
    if total == 0:
        return (0.0, 1.0)
    share = right / total
    centre = share + z * z / (2 * total)
    margin = z * math.sqrt(share * (1 - share) / total + z * z / (4 * total * total))
    scale = 1 + z * z / total
    return ((centre - margin) / scale, (centre + margin) / scale)


def ece_interval(p: np.ndarray, correct: np.ndarray, image_of: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95 % percentile interval of the ECE, resampling whole pictures (their detections go together)."""
    from backend.training.confidence import expected_calibration_error

    pictures = np.unique(image_of)
    members = {int(i): np.flatnonzero(image_of == i) for i in pictures}
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(RESAMPLES):
        chosen = rng.choice(pictures, size=pictures.size, replace=True)
        idx = np.concatenate([members[int(i)] for i in chosen]) if chosen.size else np.zeros(0, dtype=int)
        draws.append(expected_calibration_error(p[idx], correct[idx]))
    low, high = np.percentile(draws, [2.5, 97.5])
    return float(low), float(high)


def _fresh_set(root: Path, *, images: int, seed: int) -> Path:
    """A fresh demo set (as `jobs.demo_data`), prepared as YOLO (as `jobs.prepare`); returns its data.yaml."""
    from backend.data.demo import generate_demo_dataset
    from backend.data.formats.convert import prepare_coco

    raw = root / "raw"
    generate_demo_dataset(raw, images=images, seed=seed)
    out = root / "prepared"
    prepare_coco(raw / "annotations.json", raw / "images", out)
    return out / "data.yaml"


def reliability(p: np.ndarray, correct: np.ndarray, bins: int = 10) -> list[tuple[int, float, float]]:
    """Per equal-width bin of the confidence (the ECE's bins): (items, mean confidence, share right); (0, nan, nan)
    for an empty bin."""
    index = np.minimum((p * bins).astype(int), bins - 1)
    rows = []
    for b in range(bins):
        members = index == b
        count = int(members.sum())
        rows.append(
            (count, float(p[members].mean()), float(correct[members].mean())) if count else (0, math.nan, math.nan)
        )
    return rows


def _words(probabilities: np.ndarray, correct: np.ndarray) -> dict[str, tuple[int, int]]:
    """(right, total) per word, over items at or above the floor (what the page can show)."""
    from backend.serving.certainty import Certainty, certainty_of

    counts = {str(w): [0, 0] for w in Certainty}
    for p, right in zip(probabilities, correct, strict=True):
        word = certainty_of(float(p))
        if word is not None:
            counts[str(word)][0] += int(right)
            counts[str(word)][1] += 1
    return {w: (c[0], c[1]) for w, c in counts.items()}


def bench(*, weights: Path, data_yaml: Path, images: int, seed: int) -> dict[str, Any]:
    """Fit on the model's val split, measure on a fresh set; returns the figures for the report."""
    from backend.core.params import get_params
    from backend.training.confidence import expected_calibration_error, fit_calibration
    from backend.training.held_out import score_split

    detect = get_params().detect
    fit_scores, imgsz = score_split(weights, data_yaml, device="cpu")
    calibration = fit_calibration(fit_scores, min_class_detections=detect.calibration_min_detections, imgsz=imgsz)
    with tempfile.TemporaryDirectory(prefix="plateops-bench-calibration-") as tmp:
        fresh_yaml = _fresh_set(Path(tmp), images=images, seed=seed)
        measured, _ = score_split(weights, fresh_yaml, splits=("train", "val"), imgsz=imgsz, device="cpu")
    raw, right = measured.scores, measured.correct
    calibrated = np.array([calibration.probability(n, s) for n, s in zip(measured.names, raw, strict=True)])
    names = np.asarray(measured.names, dtype=object)
    per_class = []
    for name in sorted(set(measured.names)):
        mask = names == name
        if mask.sum() >= PER_CLASS_MIN:
            entry = calibration.classes.get(name)
            per_class.append(
                {
                    "name": name,
                    "n": int(mask.sum()),
                    "right": int(right[mask].sum()),
                    "map": "own" if entry is not None and not entry.pooled else "shared",
                    "before": expected_calibration_error(raw[mask], right[mask]),
                    "after": expected_calibration_error(calibrated[mask], right[mask]),
                }
            )
    return {
        "weights": weights,
        "data": data_yaml,
        "imgsz": imgsz,
        "calibration": calibration,
        "measured": measured,
        "fresh_images": images,
        "fresh_seed": seed,
        "before": expected_calibration_error(raw, right),
        "after": expected_calibration_error(calibrated, right),
        "before_ci": ece_interval(raw, right, measured.image_of),
        "after_ci": ece_interval(calibrated, right, measured.image_of),
        "per_class": per_class,
        "reliability_before": reliability(raw, right),
        "reliability_after": reliability(calibrated, right),
        "words_after": _words(calibrated, right),
        "words_raw": _words(raw, right),
        "floor": detect.floor,
        "min_class": detect.calibration_min_detections,
        "likely": detect.likely,
        "very_likely": detect.very_likely,
    }


def _share(right: int, total: int) -> str:
    if total == 0:
        return "no items"
    low, high = wilson(right, total)
    return f"{right}/{total} = {right / total:.2f} ({low:.2f}–{high:.2f})"


def promise_kept(right: int, total: int, promise: float) -> str:
    """Whether a word's share right reaches its cut-off: beyond the Wilson interval, by the point estimate only, or
    not."""
    if total == 0:
        return "no items"
    low, _ = wilson(right, total)
    if low >= promise:
        return "yes, even at the interval's low end"
    return "yes (point estimate; the interval reaches below)" if right / total >= promise else "**no**"


def _bin_cell(count: int, mean: float, share: float) -> str:
    return "–" if count == 0 else f"{count}: {mean:.2f} → {share:.2f}"


def report(r: dict[str, Any]) -> str:
    """The BENCHMARKS.md section."""
    cal, measured = r["calibration"], r["measured"]
    shared_cv = ", ".join(f"{m} {v:.3f}" for m, v in cal.cv_ece.items())
    own = [name for name, entry in cal.classes.items() if not entry.pooled]
    promises = {"very likely": r["very_likely"], "likely": r["likely"], "maybe": r["floor"]}
    bands = {"very likely": f"≥ {r['very_likely']:.2f}", "likely": f"{r['likely']:.2f}–{r['very_likely']:.2f}"}
    bands["maybe"] = f"{r['floor']:.2f}–{r['likely']:.2f}"
    word_rows: list[tuple[str, ...]] = [
        (
            f"{word} ({bands[word]})",
            _share(*r["words_after"][word]),
            promise_kept(r["words_after"][word][0], r["words_after"][word][1], promise),
            _share(*r["words_raw"][word]),
        )
        for word, promise in promises.items()
    ]
    class_rows: list[tuple[str, ...]] = [
        (c["name"], str(c["n"]), f"{c['right'] / c['n']:.2f}", c["map"], f"{c['before']:.3f}", f"{c['after']:.3f}")
        for c in r["per_class"]
    ]
    bins = len(r["reliability_before"])
    reliability_rows: list[tuple[str, ...]] = [
        (f"{b / bins:.1f}–{(b + 1) / bins:.1f}", _bin_cell(*before), _bin_cell(*after))
        for b, (before, after) in enumerate(zip(r["reliability_before"], r["reliability_after"], strict=True))
    ]
    b_low, b_high = r["before_ci"]
    a_low, a_high = r["after_ci"]
    return (
        "## Confidence calibration (`bench/calibration.py`)\n\n"
        f"The Quick model (`{r['weights']}`, imgsz {r['imgsz']}) calibrated as training calibrates it: fitted on its "
        f"val split ({cal.images} pictures, {cal.detections} detections at raw score ≥ {cal.min_score}, "
        f"{cal.correct} right at IoU ≥ {cal.match_iou} with the same class), method chosen by 5-fold cross-validated "
        f"ECE (shared map: {shared_cv}; chosen: {cal.shared.method}; classes with a map of their own: "
        f"{', '.join(own) or 'none'}, the others pooled). Cross-validated on the fitting set: ECE {cal.ece_before:.3f} "
        f"→ {cal.ece_after:.3f}.\n\n"
        f"Measured on a different held-out set: {r['fresh_images']} fresh demo pictures (seed {r['fresh_seed']}, "
        f"never seen by the model or the fit), {len(measured.scores)} detections, "
        f"{int(measured.correct.sum())} right. ECE on 10 equal-width bins, 95 % intervals from "
        f"{RESAMPLES} bootstrap resamples of the pictures.\n\n"
        + table(
            [
                ("raw model score", f"**{r['before']:.3f}** ({b_low:.3f}–{b_high:.3f})"),
                ("calibrated probability", f"**{r['after']:.3f}** ({a_low:.3f}–{a_high:.3f})"),
            ],
            ("confidence", "ECE on the fresh set"),
        )
        + "\n\nReliability on the fresh set, per bin of the confidence (the ECE's bins): items in the bin: their "
        "mean confidence → the share of them that is right (a calibrated model has the two equal).\n\n"
        + table(reliability_rows, ("confidence bin", "raw model score", "calibrated probability"))
        + f"\n\nPer class (classes with at least {PER_CLASS_MIN} detections on the fresh set):\n\n"
        + table(class_rows, ("class", "detections", "share right", "map", "ECE raw", "ECE calibrated"))
        + (
            ""
            if own
            else "\n\nNo class had the detections for a map of its own on this val split "
            f"(`detect.calibration_min_detections`: {r['min_class']}), so every class shares one map; what is left "
            "per class (some classes right more often than others at the same score) needs a larger val split."
        )
        + "\n\nWhat each word the Detect page says is worth on the fresh set: share right among the items it "
        "would call so (every item at or above the floor, shown by default or behind “Show less certain items”), "
        "Wilson 95 % intervals; the same cut-offs on the raw scores for comparison. A word keeps its promise when "
        "its share right is at least the low end of its band.\n\n"
        + table(word_rows, ("word", "calibrated probability", "promise kept?", "raw score, same cut-offs"))
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, write its BENCHMARKS.md section and print one summary line."""
    parser = argparse.ArgumentParser(prog="python -m bench.calibration", description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, default=QUICK_WEIGHTS, help=f"The model (default {QUICK_WEIGHTS}).")
    parser.add_argument(
        "--data", type=Path, default=QUICK_DATA, help=f"Its dataset's data.yaml (default {QUICK_DATA})."
    )
    parser.add_argument("--images", type=int, default=200, help="Fresh demo pictures to measure on (default 200).")
    parser.add_argument("--seed", type=int, default=5, help="Seed of the fresh demo set (default 5).")
    args = parser.parse_args(argv)
    for path in (args.weights, args.data):
        if not path.is_file():
            print(f"error: {path} does not exist; pass --weights and --data of a trained model.")
            return 2
    result = bench(weights=args.weights, data_yaml=args.data, images=args.images, seed=args.seed)
    path = write_section("calibration", report(result))
    very = result["words_after"]["very likely"]
    print(
        f"calibration: ECE {result['before']:.3f} -> {result['after']:.3f} on {args.images} fresh pictures; "
        f"'very likely' right {very[0]}/{very[1]}; written to {path.name}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
