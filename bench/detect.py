"""Detect benchmark: the Detect page's path (`serving.detect_image`, pictures kept) over raw `model.predict`.

Both sides run the same weights at the same imgsz, conf and IoU on the same demo images, on one machine in one
process; each image is timed on both sides back to back, order alternating, so background load from other work hits
both alike; the ratio is total page time over total raw time. The page path includes what a page upload costs beyond
the model until the answer: safe loading (header checks, full decode, EXIF), the monitoring features, drawing the
boxes and the prediction row (one SQLite transaction). The resized copy and thumbnail are written after the answer on
a background thread; the benchmark waits for them between timings, so they never overlap a timed call.
Goal: page / raw ≤ 1.10.

Run: python -m bench.detect [--images 50] [--imgsz 640] [--rounds 3] [--weights W.pt]
Without --weights, an untrained YOLOv8n with the 12 food classes is built (same architecture and cost as the
trained model; its detections do not matter here).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.report import table, write_section


def _untrained_yolov8n(path: Path, imgsz: int) -> Path:
    """Save a randomly initialised YOLOv8n detector with the food classes (no download)."""
    import torch
    from ultralytics.nn.tasks import DetectionModel

    from backend.core.vocab import FOOD_CLASSES
    from backend.training.yolo import ultralytics_yolo

    yolo = ultralytics_yolo()
    torch.manual_seed(0)
    model = yolo("yolov8n.yaml", task="detect")
    model.model = DetectionModel("yolov8n.yaml", nc=len(FOOD_CLASSES), verbose=False)
    model.model.names = dict(enumerate(FOOD_CLASSES))
    model.ckpt = {"train_args": {"task": "detect", "imgsz": imgsz, "model": "yolov8n.yaml"}}
    path.parent.mkdir(parents=True, exist_ok=True)
    model.save(path)
    return path


def bench(*, images: int, imgsz: int, rounds: int, weights: Path | None, conf: float, iou: float) -> dict:
    """Time both paths; returns the figures for the report."""
    from backend.core.enums import RunStatus
    from backend.core.settings import get_settings, init_workspace
    from backend.data.demo import generate_demo_dataset
    from backend.serving import service as serving
    from backend.serving.copies import wait_for_copies
    from backend.store import predictions as prediction_store
    from backend.store import runs as run_store
    from backend.store.engine import dispose_all, session_scope
    from backend.training.yolo import ultralytics_yolo

    with tempfile.TemporaryDirectory(prefix="plateops-bench-detect-") as tmp:
        root = Path(tmp)
        os.environ["PLATEOPS_HOME"] = str(root / "workspace")
        os.environ["PLATEOPS_AUTO_DEMO"] = "false"
        os.environ.pop("PLATEOPS_DATABASE_URL", None)
        get_settings.cache_clear()
        dispose_all()
        settings = init_workspace()

        generate_demo_dataset(root / "demo", images=images, seed=11)
        paths = sorted((root / "demo" / "images").glob("*.jpg"))[:images]
        best = settings.runs_dir / "bench" / "weights" / "best.pt"
        if weights is None:
            _untrained_yolov8n(best, imgsz)
        else:
            best.parent.mkdir(parents=True, exist_ok=True)
            best.write_bytes(weights.read_bytes())
        with session_scope() as session:
            run = run_store.create_run(session=session, name="bench", run_dir=str(best.parent.parent))
            done = run_store.RunUpdate(status=RunStatus.SUCCEEDED, weights_path=str(best))
            run_store.update_run(session=session, run_id=run.id, changes=done)

        model = serving.serving_model()
        assert model is not None
        device = serving.default_device()
        detector = serving.load_detector(model, device=device)
        raw = ultralytics_yolo()(str(best), task="detect")
        for path in paths[:3]:  # warm up both (first calls build the predictor, allocate buffers)
            raw.predict(str(path), imgsz=imgsz, conf=conf, iou=iou, device=device, verbose=False)
            serving.detect_image(
                path.read_bytes(), name=path.name, detector=detector, model=model, conf=conf, iou=iou, imgsz=imgsz
            )

        def time_raw(path: Path) -> float:
            start = time.perf_counter()
            raw.predict(str(path), imgsz=imgsz, conf=conf, iou=iou, device=device, verbose=False)
            return time.perf_counter() - start

        predict_ms: list[float] = []
        total_ms: list[float] = []

        def time_page(path: Path) -> float:
            start = time.perf_counter()
            outcome = serving.detect_image(
                path.read_bytes(),
                name=path.name,
                detector=detector,
                model=model,
                conf=conf,
                iou=iou,
                imgsz=imgsz,
                store_images=True,
            )
            elapsed = time.perf_counter() - start
            wait_for_copies()  # the copies are written after the answer; untimed, never overlapping a timing
            predict_ms.append(outcome.latency_ms)
            total_ms.append(outcome.total_ms)
            return elapsed

        # Paired and interleaved per image (order alternating), so a burst of load from other work on a shared
        # machine hits both sides alike instead of one whole round.
        raw_s: list[float] = []
        page_s: list[float] = []
        for round_index in range(rounds):
            for index, path in enumerate(paths):
                if (index + round_index) % 2 == 0:
                    raw_s.append(time_raw(path))
                    page_s.append(time_page(path))
                else:
                    page_s.append(time_page(path))
                    raw_s.append(time_raw(path))

        wait_for_copies()
        with session_scope() as session:
            logged = prediction_store.count_predictions(session=session)
        kept = sum(1 for p in settings.predictions_dir.rglob("*.jpg"))
        dispose_all()
        get_settings.cache_clear()

    n = len(paths)
    per_round = [sum(page_s[i * n : (i + 1) * n]) / sum(raw_s[i * n : (i + 1) * n]) for i in range(rounds)]
    return {
        "images": n,
        "imgsz": imgsz,
        "rounds": rounds,
        "device": device,
        "per_round": per_round,
        "raw_ms": sum(raw_s) / len(raw_s) * 1000,
        "page_ms": sum(page_s) / len(page_s) * 1000,
        "ratio": sum(page_s) / sum(raw_s),
        "median_pair_ratio": statistics.median(p / r for p, r in zip(page_s, raw_s, strict=True)),
        "predict_ms": statistics.mean(predict_ms),
        "overhead_ms": statistics.mean(t - p for t, p in zip(total_ms, predict_ms, strict=True)),
        "logged": logged,
        "kept": kept,
        "load": " / ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def report(r: dict) -> str:
    """The BENCHMARKS.md section."""
    rows = [
        (
            f"{r['images']} demo images, imgsz {r['imgsz']}, {r['device']}",
            f"{r['raw_ms']:.1f} ms",
            f"{r['page_ms']:.1f} ms",
            f"{r['predict_ms']:.1f} ms",
            f"{r['overhead_ms']:.1f} ms",
            f"**{r['ratio']:.2f}**",
        )
    ]
    spread = ", ".join(f"{x:.2f}" for x in r["per_round"])
    return (
        "## Detect (`bench/detect.py`)\n\n"
        "The Detect page's path to the answer, `serving.detect_image` (safe load, detect, monitoring features, boxes "
        "drawn, prediction row logged; the resized copy and thumbnail are written after the answer on a background "
        "thread, untimed and waited for between timings), against raw ultralytics `model.predict` on the "
        "same image files, same weights (YOLOv8n), imgsz, conf 0.25 and IoU 0.45. Each image is timed on both sides "
        f"back to back (order alternating), {r['rounds']} passes over the set; the ratio is total page time over "
        "total raw time (means per image below). Goal: page / raw ≤ 1.10.\n\n"
        + table(
            rows,
            (
                "images",
                "raw predict / image",
                "page path / image",
                "of which the model",
                "of which the rest",
                "page / raw",
            ),
        )
        + f"\n\nMedian of the per-image ratios: {r['median_pair_ratio']:.2f}; per pass: {spread}. "
        f"Rows logged: {r['logged']}, pictures kept: {r['kept']} (copy + thumbnail each). "
        f"Load average while it ran: {r['load']}; other work shared the machine, so passes vary."
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, write its BENCHMARKS.md section and print one summary line."""
    parser = argparse.ArgumentParser(prog="python -m bench.detect", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=50, help="Demo images to detect on (default 50).")
    parser.add_argument("--imgsz", type=int, default=640, help="Inference size for both paths (default 640).")
    parser.add_argument("--rounds", type=int, default=3, help="Passes over the images (default 3).")
    parser.add_argument("--weights", type=Path, default=None, help="A .pt to use (default: untrained YOLOv8n).")
    args = parser.parse_args(argv)
    result = bench(images=args.images, imgsz=args.imgsz, rounds=args.rounds, weights=args.weights, conf=0.25, iou=0.45)
    path = write_section("detect", report(result))
    print(
        f"detect: page {result['page_ms']:.1f} ms vs raw {result['raw_ms']:.1f} ms per image "
        f"→ ratio {result['ratio']:.2f} (goal ≤ 1.10); written to {path.name}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
