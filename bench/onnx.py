"""ONNX serving benchmark: PlateOps' ONNX path (onnxruntime, numpy letterbox and NMS) over PyTorch `model.predict`.

Both sides run the same YOLOv8n weights at the same (served) image size, conf 0.25 and IoU 0.45, on the same demo
pictures, on CPU, in one process; each picture is timed on every side back to back (order rotating), so background
load hits all alike. Also measured for reference: ultralytics' own ONNX backend (`YOLO("m.onnx").predict`) and, as an
option, the dynamically int8-quantised ONNX model (with its box agreement, since quantisation changes outputs).
Goal: ONNX / PyTorch ≤ 0.45.

Run: python -m bench.onnx [--images 30] [--imgsz 256 640] [--rounds 3] [--weights W.pt]
Without --weights, an untrained YOLOv8n with the 12 food classes is built (same architecture and cost).
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench.detect import _untrained_yolov8n
from bench.report import table, write_section


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench_size(weights: Path, pictures: list[Any], *, imgsz: int, rounds: int, quantize: bool) -> dict[str, Any]:
    """Time every side at one image size; returns per-side mean ms and the ratios to PyTorch."""
    from backend.serving.inference import Detector
    from backend.serving.onnx_runtime import quantize_dynamic
    from backend.training.export import export_onnx
    from backend.training.yolo import ultralytics_yolo

    onnx_path = export_onnx(weights, imgsz=imgsz, out=weights.with_name(f"model-{imgsz}.onnx"))
    torch_model = ultralytics_yolo()(str(weights), task="detect")
    ultra_onnx = ultralytics_yolo()(str(onnx_path), task="detect")
    ours = Detector.load(onnx_path)
    sides: dict[str, Callable[[Any], Any]] = {
        "pytorch": lambda im: torch_model.predict(im, imgsz=imgsz, conf=0.25, iou=0.45, device="cpu", verbose=False),
        "ultralytics onnx": lambda im: ultra_onnx.predict(im, imgsz=imgsz, conf=0.25, iou=0.45, verbose=False),
        "plateops onnx": lambda im: ours.predict([im], conf=0.25, iou=0.45),
    }
    int8 = None
    if quantize:
        int8 = Detector.load(quantize_dynamic(onnx_path, weights.with_name(f"model-{imgsz}-int8.onnx")))
        sides["plateops onnx int8"] = lambda im: int8.predict([im], conf=0.25, iou=0.45)
    for fn in sides.values():  # warm-up: first calls build predictors and allocate buffers
        for im in pictures[:3]:
            fn(im)
    timings: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for round_index in range(rounds):
        for index, im in enumerate(pictures):
            shift = (index + round_index) % len(names)
            for name in names[shift:] + names[:shift]:
                timings[name].append(_timed(lambda fn=sides[name], im=im: fn(im)))
    result: dict[str, Any] = {"imgsz": imgsz, "ms": {k: statistics.mean(v) * 1000 for k, v in timings.items()}}
    base = sum(timings["pytorch"])
    result["ratio"] = {k: sum(v) / base for k, v in timings.items()}
    if int8 is not None:  # how far int8 moves the answers: share of float boxes it still finds (IoU ≥ 0.9)
        found = total = 0
        for im in pictures:
            ref = ours.predict([im], conf=0.1)[0].detections
            got = int8.predict([im], conf=0.1)[0].detections
            total += len(ref)
            for det in ref:
                found += any(_iou(det.box, other.box) >= 0.9 and det.class_id == other.class_id for other in got)
        result["int8_agreement"] = found / total if total else float("nan")
        result["int8_size"] = Path(int8.source).stat().st_size / Path(onnx_path).stat().st_size
    return result


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


def bench(*, images: int, sizes: list[int], rounds: int, weights: Path | None, quantize: bool) -> list[dict[str, Any]]:
    """Run every image size; returns one result per size."""
    from PIL import Image

    from backend.data.demo import generate_demo_dataset

    with tempfile.TemporaryDirectory(prefix="plateops-bench-onnx-") as tmp:
        root = Path(tmp)
        generate_demo_dataset(root / "demo", images=images, seed=13, workers=1)
        pictures = [Image.open(p).convert("RGB") for p in sorted((root / "demo" / "images").glob("*.jpg"))[:images]]
        results = []
        for size in sizes:
            path = root / f"weights-{size}" / "best.pt"
            if weights is None:
                _untrained_yolov8n(path, size)
            else:
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes(weights.read_bytes())
            results.append(bench_size(path, pictures, imgsz=size, rounds=rounds, quantize=quantize))
    return results


def report(results: list[dict[str, Any]], *, images: int, rounds: int, weights: str = "") -> str:
    """The BENCHMARKS.md section."""
    rows = []
    for r in results:
        ms, ratio = r["ms"], r["ratio"]
        int8 = "—"
        if "plateops onnx int8" in ms:
            kept = r["int8_agreement"]
            agreement = f"{kept:.0%} of float boxes kept" if not math.isnan(kept) else "no boxes at conf 0.1 to compare"
            int8 = (
                f"{ms['plateops onnx int8']:.1f} ms ({ratio['plateops onnx int8']:.2f}; {agreement}; "
                f"{r['int8_size']:.2f}× size)"
            )
        rows.append(
            (
                f"{r['imgsz']} px",
                f"{ms['pytorch']:.1f} ms",
                f"{ms['ultralytics onnx']:.1f} ms ({ratio['ultralytics onnx']:.2f})",
                f"{ms['plateops onnx']:.1f} ms",
                f"**{ratio['plateops onnx']:.2f}**",
                int8,
            )
        )
    load = " / ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        "## ONNX serving (`bench/onnx.py`)\n\n"
        "Latency per picture on CPU of PlateOps' ONNX path (onnxruntime with full graph optimisation, one "
        "non-spinning intra-op thread per CPU, numpy letterbox and NMS; what the Detect page and "
        "`jobs.detect` use when the production model has an ONNX export) against PyTorch `model.predict` on the "
        "same YOLOv8n weights, at the served image size, conf 0.25, IoU 0.45, "
        f"on {images} demo pictures, {rounds} passes, each picture timed on every side back to back (order "
        "rotating); ratio = total time over PyTorch's. Ultralytics' own ONNX backend and the optional dynamic int8 "
        "model are shown for reference. Goal: ONNX / PyTorch ≤ 0.45. "
        f"Weights: {weights or 'an untrained YOLOv8n with the 12 food classes (same cost as a trained one)'}.\n\n"
        + table(
            rows,
            ("imgsz", "PyTorch", "ultralytics ONNX (ratio)", "PlateOps ONNX", "PlateOps ONNX / PyTorch", "int8"),
        )
        + f"\n\nLoad average while it ran: {load}; other work shared the machine."
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, write its BENCHMARKS.md section and print one summary line."""
    parser = argparse.ArgumentParser(prog="python -m bench.onnx", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=30, help="Demo pictures (default 30).")
    parser.add_argument("--imgsz", type=int, nargs="+", default=[256, 640], help="Served sizes (default 256 640).")
    parser.add_argument("--rounds", type=int, default=3, help="Passes over the pictures (default 3).")
    parser.add_argument("--weights", type=Path, default=None, help="A .pt to use (default: untrained YOLOv8n).")
    parser.add_argument("--no-int8", action="store_true", help="Skip the dynamic int8 model.")
    args = parser.parse_args(argv)
    results = bench(
        images=args.images, sizes=args.imgsz, rounds=args.rounds, weights=args.weights, quantize=not args.no_int8
    )
    label = f"{args.weights.name} (a trained YOLOv8n)" if args.weights else ""
    path = write_section("onnx", report(results, images=args.images, rounds=args.rounds, weights=label))
    ratios = ", ".join(f"{r['imgsz']} px {r['ratio']['plateops onnx']:.2f}" for r in results)
    print(f"onnx: PlateOps ONNX / PyTorch latency {ratios} (goal ≤ 0.45); written to {path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
