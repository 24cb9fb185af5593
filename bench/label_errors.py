"""Label-error benchmark: how many of the images cleanlab ranks as most suspicious really hold a planted label error
(precision at K), against random order (whose expected precision is the share of corrupted images).

A model is trained (Quick CPU preset) on one demo set; a second demo set (another seed, images the model never saw,
as cleanlab advises) gets about 5 % of its boxes corrupted on purpose, a third each reclassified, dropped or shifted
by half a box. Its images are then ranked by cleanlab's object-detection label quality from the model's
predictions, once with cleanlab's default "sure" confidence (0.95) and once with 0.5.

Run: python -m bench.label_errors [--train-images 400] [--images 300] [--share 0.05] [--weights W.pt]
     (about 8 minutes on 2 CPU cores, nearly all of it training; --weights skips training)
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.report import table, write_section

KINDS = ("reclassified", "dropped", "shifted")


def _settings(home: Path) -> None:
    os.environ.update({"PLATEOPS_HOME": str(home), "PLATEOPS_CLEARML_MODE": "offline", "PLATEOPS_AUTO_DEMO": "false"})
    os.environ.pop("PLATEOPS_DATABASE_URL", None)
    from backend.core.settings import get_settings

    get_settings.cache_clear()


def _prepared_demo(root: Path, *, images: int, seed: int) -> Path:
    from backend.data.demo import generate_demo_dataset
    from backend.data.formats.convert import prepare_coco

    raw = root / f"raw-{seed}"
    generate_demo_dataset(raw, images=images, seed=seed)
    out = root / f"yolo-{seed}"
    prepare_coco(raw / "annotations.json", raw / "images", out, seed=seed)
    return out


def train_model(root: Path, *, images: int) -> tuple[Path, float]:
    """Train the Quick CPU preset on a demo set (seed 0); returns best.pt and the training seconds."""
    from backend.training.service import build_config
    from backend.training.trainer import train

    data = _prepared_demo(root, images=images, seed=0)
    started = time.perf_counter()
    result = train(build_config("quick_cpu"), data_yaml=data / "data.yaml", out_dir=root / "run", run_name="bench")
    return result.best, time.perf_counter() - started


def corrupt(folder: Path, *, share: float, seed: int) -> dict[str, str]:
    """Corrupt `share` of all boxes in the label files (fresh files); returns {image file: kind of the first}."""
    from backend.annotation.labels import index_version, read_label_file, write_label_file

    index = index_version(folder)
    rng = random.Random(seed)
    every = [(f, i) for f in sorted(index.images) for i in range(len(read_label_file(index.images[f].label_path, [])))]
    chosen = rng.sample(every, max(1, round(share * len(every))))
    by_file: dict[str, list[int]] = {}
    for file, i in chosen:
        by_file.setdefault(file, []).append(i)
    planted: dict[str, str] = {}
    for file, picks in by_file.items():
        image = index.images[file]
        boxes = read_label_file(image.label_path, index.names)
        kept = []
        for i, box in enumerate(boxes):
            if i not in picks:
                kept.append(box)
                continue
            kind = rng.choice(KINDS)
            planted.setdefault(file, kind)
            if kind == "reclassified":
                other = rng.choice([n for n in index.names if n != box.class_name])
                kept.append(type(box)(other, box.x1, box.y1, box.x2, box.y2))
            elif kind == "shifted":
                dx, dy = box.width / 2 * rng.choice((-1, 1)), box.height / 2 * rng.choice((-1, 1))
                x1, y1 = min(max(0.0, box.x1 + dx), 1 - box.width), min(max(0.0, box.y1 + dy), 1 - box.height)
                kept.append(type(box)(box.class_name, x1, y1, x1 + box.width, y1 + box.height))
        write_label_file(image.label_path, kept, index.names)
    return planted


def precision_at(order: list[str], planted: set[str], k: int) -> float:
    return sum(f in planted for f in order[:k]) / k


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--train-images", type=int, default=400)
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--share", type=float, default=0.05)
    parser.add_argument("--weights", type=Path, default=None)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    from backend.annotation.suspects import _predict_boxes, labels_in_pixels, score_label_quality
    from backend.serving.inference import Detector

    root = Path(tempfile.mkdtemp(prefix="plateops-bench-labels-"))
    _settings(root / "workspace")
    weights, train_s = (args.weights, 0.0) if args.weights else train_model(root, images=args.train_images)
    folder = _prepared_demo(root, images=args.images, seed=1)
    planted = corrupt(folder, share=args.share, seed=1)
    names, files, paths, labels = labels_in_pixels(folder)
    n_boxes = sum(len(lab.classes) for lab in labels)
    detector = Detector.load(Path(weights))
    started = time.perf_counter()
    predictions = _predict_boxes(detector, paths, names, lambda *_: None)
    predict_s = time.perf_counter() - started
    rows = []
    base = len(planted) / len(files)
    ks = sorted({10, 20, len(planted)})
    found: dict[str, list[float]] = {}
    for label, threshold in (("cleanlab default (sure ≥ 0.95)", None), ("sure ≥ 0.5", 0.5)):
        started = time.perf_counter()
        scores, _ = score_label_quality(labels, predictions, len(names), high_probability_threshold=threshold)
        score_s = time.perf_counter() - started
        order = [files[i] for i in np.argsort(scores, kind="stable")]
        found[label] = [precision_at(order, set(planted), k) for k in ks]
        rows.append((label, *(f"{p:.2f} ({p / base:.1f}×)" for p in found[label]), f"{score_s:.2f} s"))
    rows.append(("random order (expected)", *(f"{base:.2f} (1.0×)" for _ in ks), "–"))
    by_kind = {kind: sum(1 for v in planted.values() if v == kind) for kind in KINDS}
    body = (
        "## Suspected label errors (`bench/label_errors.py`)\n\n"
        f"A Quick CPU model ({args.train_images}-image demo set, seed 0) predicts on a second demo set "
        f"({len(files)} images, seed 1, never seen in training) whose labels had {args.share:.0%} of their "
        f"{n_boxes} boxes corrupted on purpose: {len(planted)} images hold at least one corrupted box "
        f"(first corruption: {', '.join(f'{n} {k}' for k, n in by_kind.items())}). Images are ranked by cleanlab's "
        "object-detection label quality; precision at K is the share of corrupted images among the K lowest; "
        "random order's expected precision is the share of corrupted images. Ratios over random in brackets.\n\n"
        + table(rows, ("ranking", *(f"precision@{k}" for k in ks), "scoring time"))
        + f"\n\nPredicting on the {len(files)} images took {predict_s:.1f} s"
        + (f"; training {train_s / 60:.1f} min." if train_s else ".")
    )
    print(body)
    if not args.no_write:
        write_section("label_errors", body)


if __name__ == "__main__":
    main()
