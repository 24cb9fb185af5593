"""Active learning simulation on demo data, labels hidden from the selector: how many labels each strategy needs.

python -m bench.active_learning [--seed-images 100] [--pool 600] [--rounds 4] [--per-round 75] [--seeds 3]
                                [--strategies diverse,uncertainty,novelty] [--epochs 10] [--work DIR] [--quick]

- One demo set per seed (generator seed 1000 + s), prepared with the usual split: its validation split is the
  evaluation set; from its training split `--seed-images` are labelled at the start and `--pool` form the unlabelled
  pool (a seeded draw; the pool's labels are only read once a picture is picked, as a person would label it).
- Each round trains from scratch (the Quick CPU preset, `--epochs` epochs) on the labelled pictures, measures mAP50
  on the evaluation set, then the strategy picks `--per-round` pool pictures using only that model's predictions
  and embeddings (`backend.annotation.selection.pick`, the code behind jobs.select); random selection is the
  baseline, on the same seeds.
- The result: mAP50 against labels per strategy (mean and spread over the seeds), and the labels each strategy needs
  to reach random selection's final mAP50 (linear interpolation on the mean curve; "not reached" when it never
  does). Written to BENCHMARKS.md (section active_learning, or active_learning_quick for --quick), the curves as
  `ui/assets/active_learning.png` (--quick: under --work only), and the raw figures as JSON under --work.

--quick runs a tiny form (12 seed pictures, a pool of 30, 2 rounds of 6, 1 epoch at 64 px, 1 seed) to check the
machinery in a few minutes; its figures say nothing about the strategies.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from bench.report import table, write_section

ROOT = Path(__file__).resolve().parents[1]
QUICK = {"seed_images": 12, "pool": 30, "rounds": 2, "per_round": 6, "seeds": 1, "epochs": 1, "imgsz": 64}


def _settings(home: Path) -> None:
    os.environ.update({"PLATEOPS_HOME": str(home), "PLATEOPS_CLEARML_MODE": "offline", "PLATEOPS_AUTO_DEMO": "false"})
    os.environ.pop("PLATEOPS_DATABASE_URL", None)
    from backend.core.settings import get_settings

    get_settings.cache_clear()


def prepared_demo(root: Path, *, images: int, seed: int) -> Path:
    """A prepared YOLO demo set (train and val splits); returns its folder."""
    from backend.data.demo import generate_demo_dataset
    from backend.data.formats.convert import prepare_coco

    raw = root / f"raw-{seed}"
    generate_demo_dataset(raw, images=images, seed=seed)
    out = root / f"yolo-{seed}"
    prepare_coco(raw / "annotations.json", raw / "images", out, seed=seed)
    return out


def subset_yaml(data: Path, files: list[Path], out: Path) -> Path:
    """A data.yaml training on exactly `files` (a list file) and validating on the set's val split."""
    source = yaml.safe_load((data / "data.yaml").read_text(encoding="utf-8"))
    out.mkdir(parents=True, exist_ok=True)
    listing = out / "train.txt"
    listing.write_text("".join(f"{f.resolve()}\n" for f in files), encoding="utf-8")
    spec = {"path": str(data.resolve()), "train": str(listing), "val": source["val"], "names": source["names"]}
    path = out / "data.yaml"
    path.write_text(yaml.safe_dump(spec, sort_keys=False), encoding="utf-8")
    return path


def train_round(data_yaml: Path, out: Path, *, epochs: int, imgsz: int, seed: int) -> tuple[Path, float]:
    """Train from scratch on a subset; returns best.pt and its mAP50 on the evaluation set."""
    from backend.training.service import build_config
    from backend.training.trainer import train

    overrides: dict[str, Any] = {"epochs": epochs, "imgsz": imgsz, "seed": seed, "plots": False}
    result = train(build_config("quick_cpu", overrides), data_yaml=data_yaml, out_dir=out, run_name=out.name)
    return result.best, float(result.map50 or 0.0)


def choose(strategy: str, weights: Path, labelled: list[Path], pool: list[Path], k: int, seed: int) -> list[Path]:
    """Pick `k` pool pictures with the round's model: its detections and embeddings only, never the pool's labels."""
    from backend.annotation.selection import Candidate, Strategy, pick
    from backend.core.params import get_params
    from backend.imaging.loading import load_image
    from backend.serving.inference import Detector

    if strategy == Strategy.RANDOM:
        return random.Random(seed).sample(pool, k)
    detector = Detector.load(weights, device="cpu")
    params = get_params().select
    pool_pictures = [load_image(p, name=p.name).image for p in pool]
    results = detector.predict(pool_pictures, conf=0.01, embed=True)  # low cut: the selector sees the weak boxes
    vectors = np.stack([r.embedding.vector for r in results if r.embedding is not None])
    reference = np.stack([e.vector for e in detector.embed(load_image(p, name=p.name).image for p in labelled)])
    candidates = [
        Candidate(
            prediction_id=i,
            image=p.name,
            sha256=p.name,
            confidences=tuple(d.confidence for d in r.detections),
            classes=tuple(d.class_name for d in r.detections),
        )
        for i, (p, r) in enumerate(zip(pool, results, strict=True))
    ]
    picks = pick(
        candidates,
        vectors,
        reference,
        k=k,
        strategy=Strategy(strategy),
        low_confidence=params.low_confidence,
        duplicate_distance=float(np.sqrt(2.0 * params.duplicate_distance)),
        seed=seed,
    )
    chosen = [pool[p.prediction_id] for p in picks]
    rest = [p for p in pool if p not in set(chosen)]
    return chosen + random.Random(seed).sample(rest, k - len(chosen))  # near-duplicates dropped: top up at random


def simulate(args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Every strategy on every seed; {strategy: {seed: [(labels, mAP50), ...]}}."""
    from backend.training.reference import split_images

    curves: dict[str, dict[int, list[tuple[int, float]]]] = {}
    for s in range(args.seeds):
        data = prepared_demo(work, images=args.images, seed=1000 + s)
        train_files = split_images(data / "data.yaml", "train")
        if len(train_files) < args.seed_images + args.pool:
            raise SystemExit(f"the demo set has {len(train_files)} training pictures; raise --images")
        drawn = random.Random(s).sample(train_files, args.seed_images + args.pool)
        first: tuple[Path, float] | None = None  # round 0 trains on the same seed set for every strategy: once
        for strategy in ["random", *args.strategies]:
            labelled, pool = list(drawn[: args.seed_images]), list(drawn[args.seed_images :])
            curve = curves.setdefault(strategy, {}).setdefault(s, [])
            for r in range(args.rounds + 1):
                out = work / f"s{s}-{strategy}-r{r}"
                if r == 0 and first is not None:
                    weights, map50 = first
                else:
                    weights, map50 = train_round(
                        subset_yaml(data, labelled, out / "data"),
                        out / "run",
                        epochs=args.epochs,
                        imgsz=args.imgsz,
                        seed=s,
                    )
                    first = first or (weights, map50)
                curve.append((len(labelled), map50))
                print(f"seed {s} {strategy} round {r}: {len(labelled)} labels, mAP50 {map50:.3f}", flush=True)
                if r == args.rounds:
                    break
                picked = choose(strategy, weights, labelled, pool, args.per_round, seed=100 * s + r)
                labelled += picked
                pool = [p for p in pool if p not in set(picked)]
    return {"curves": {k: {str(s): c for s, c in v.items()} for k, v in curves.items()}}


def mean_curve(per_seed: dict[str, list[tuple[int, float]]]) -> list[tuple[int, float, float]]:
    """(labels, mean mAP50, spread = max - min over the seeds) per round."""
    rounds = list(zip(*per_seed.values(), strict=True))
    return [
        (pts[0][0], statistics.fmean(p[1] for p in pts), max(p[1] for p in pts) - min(p[1] for p in pts))
        for pts in rounds
    ]


def labels_to_reach(curve: list[tuple[int, float, float]], target: float) -> float | None:
    """Labels at which the mean curve first reaches `target` (linear interpolation); None if it never does."""
    for (n0, m0, _), (n1, m1, _) in itertools.pairwise(curve):
        if m0 >= target:
            return float(n0)
        if m1 >= target:
            return n0 + (target - m0) / (m1 - m0) * (n1 - n0)
    return float(curve[-1][0]) if curve and curve[-1][1] >= target else None


def plot(curves: dict[str, list[tuple[int, float, float]]], raw: dict[str, Any], path: Path) -> Path | None:
    """mAP50 against labels, each strategy's seeds as a band around its mean."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for strategy, curve in curves.items():
        xs = [c[0] for c in curve]
        seeds = list(raw["curves"][strategy].values())
        low = [min(s[i][1] for s in seeds) for i in range(len(xs))]
        high = [max(s[i][1] for s in seeds) for i in range(len(xs))]
        ax.plot(xs, [c[1] for c in curve], marker="o", label=strategy)
        ax.fill_between(xs, low, high, alpha=0.15)
    ax.set_xlabel("labelled pictures")
    ax.set_ylabel("mAP50 (evaluation set)")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    plt.close(fig)
    return path


def report(args: argparse.Namespace, raw: dict[str, Any], seconds: float, picture: Path | None) -> str:
    """The BENCHMARKS.md section."""
    curves = {k: mean_curve(v) for k, v in raw["curves"].items()}
    target = curves["random"][-1][1]
    rows: list[tuple[str, ...]] = []
    for strategy, curve in curves.items():
        needed = labels_to_reach(curve, target)
        share = f"{needed / curve[-1][0]:.0%}" if needed is not None else "not reached"
        points = ", ".join(f"{n}: {m:.3f}±{sp / 2:.3f}" for n, m, sp in curve)
        rows.append((strategy, points, f"{needed:.0f}" if needed is not None else "not reached", share))
    body = (
        f"### Active learning{' (quick check)' if args.quick else ''}\n\n"
        f"{args.seed_images} labelled seed pictures, a pool of {args.pool}, {args.rounds} rounds of {args.per_round}, "
        f"{args.seeds} seed(s), {args.epochs} epoch(s) at {args.imgsz} px per round (Quick CPU preset otherwise); "
        f"{seconds / 60:.1f} min. Random selection's final mAP50: {target:.3f}.\n\n"
        + table(rows, ("strategy", "labels: mean mAP50 ± half spread", "labels to reach random's final", "share"))
        + "\n"
    )
    if args.quick:
        body += "\nQuick form: checks the machinery only; too small to compare strategies.\n"
    if picture is not None and not args.quick:
        body += f"\n![mAP50 against labels](../{picture.relative_to(ROOT)})\n"
    return body


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = argparse.ArgumentParser(prog="python -m bench.active_learning", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seed-images", type=int, default=100)
    parser.add_argument("--pool", type=int, default=600)
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--per-round", type=int, default=75)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--imgsz", type=int, default=256)
    parser.add_argument("--images", type=int, default=0, help="demo pictures per seed (default: enough for both)")
    parser.add_argument("--strategies", default="diverse,uncertainty,novelty")
    parser.add_argument("--work", type=Path, default=None)
    parser.add_argument("--quick", action="store_true", help="a tiny form that checks the machinery in minutes")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the simulation and write its section."""
    args = build_parser().parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
    args.strategies = [s.strip() for s in str(args.strategies).split(",") if s.strip() and s.strip() != "random"]
    args.images = args.images or int((args.seed_images + args.pool) / 0.75) + 10  # the split keeps about 80 %
    work = args.work or Path(tempfile.mkdtemp(prefix="plateops-al-"))
    _settings(work / "home")
    started = time.perf_counter()
    raw = simulate(args, work)
    seconds = time.perf_counter() - started
    (work / "active_learning.json").write_text(json.dumps(raw, indent=1), encoding="utf-8")
    curves = {k: mean_curve(v) for k, v in raw["curves"].items()}
    target = work / "active_learning.png" if args.quick else ROOT / "ui" / "assets" / "active_learning.png"
    picture = plot(curves, raw, target)
    write_section("active_learning_quick" if args.quick else "active_learning", report(args, raw, seconds, picture))
    print(f"done in {seconds / 60:.1f} min; figures in {work}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
