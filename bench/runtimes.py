"""CPU runtimes side by side: PyTorch, onnxruntime, OpenVINO and the int8 copies of both, on one trained model.

For each image size, every runtime answers the same pictures through PlateOps' own serving path (`Detector.predict`:
letterbox, model call, NMS, boxes in picture pixels) — the time an end user waits for the model — interleaved
picture by picture (order rotating), so background load hits all alike. Accuracy: mAP50 of each runtime on the
model's validation split (the ground truth the gate uses, `backend.training.matching`), against PyTorch's.
The served runtime is the fastest whose mAP50 is within 0.01 of PyTorch's (`registry.runtime_choice`).

Run: python -m bench.runtimes --weights W.pt --data DATA.yaml [--imgsz 256 640] [--images 30] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Any

from bench.report import table, write_section

TOLERANCE = 0.01


def build_sides(weights: Path, imgsz: int, scratch: Path) -> dict[str, Any]:
    """Every runtime's Detector for `weights` at `imgsz`."""
    from backend.serving.inference import Detector
    from backend.training.export import export_onnx
    from backend.training.runtimes import calibration_pictures, export_openvino, quantize_int8

    onnx = export_onnx(weights, imgsz=imgsz, out=scratch / f"m{imgsz}.onnx")
    int8 = quantize_int8(onnx, scratch / f"m{imgsz}.int8.onnx", calibration_pictures(weights))
    return {
        "pytorch": Detector.load(weights),
        "onnxruntime": Detector.load(onnx),
        "onnxruntime int8": Detector.load(int8),
        "openvino": Detector.load(export_openvino(onnx, scratch / f"m{imgsz}_openvino")),
        "openvino int8": Detector.load(export_openvino(int8, scratch / f"m{imgsz}_int8_openvino")),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", type=Path, required=True)
    parser.add_argument("--data", type=Path, required=True, help="the data.yaml whose val split gives mAP50")
    parser.add_argument("--imgsz", type=int, nargs="+", default=[256, 640])
    parser.add_argument("--images", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--write", action="store_true", help="write the section into BENCHMARKS.md")
    args = parser.parse_args()
    from PIL import Image

    from backend.registry.runtime_choice import median_ms, score_map50
    from backend.training.matching import load_eval_images

    images = load_eval_images(args.data)
    paths = list(images.images)[: args.images]
    pictures = [Image.open(p).convert("RGB") for p in paths]
    rows: list[tuple[str, ...]] = []
    for imgsz in args.imgsz:
        with tempfile.TemporaryDirectory() as scratch:
            sides = build_sides(args.weights, imgsz, Path(scratch))
            accuracy = {name: score_map50(det, images, imgsz=imgsz) for name, det in sides.items()}
            ms = median_ms(sides, pictures, rounds=args.rounds, imgsz=imgsz)
        eligible = [n for n in sides if n != "pytorch" and accuracy[n] >= accuracy["pytorch"] - TOLERANCE]
        served = min(eligible, key=ms.__getitem__) if eligible else "pytorch"
        for name in sides:
            rows.append(
                (
                    str(imgsz),
                    name + (" (served)" if name == served else ""),
                    f"{ms[name]:.1f}",
                    f"{ms[name] / ms['pytorch']:.2f}",
                    f"{accuracy[name]:.3f}",
                    f"{accuracy[name] - accuracy['pytorch']:+.3f}",
                )
            )
    text = table(rows, ("imgsz", "runtime", "ms / picture (median)", "× PyTorch", "mAP50 (val)", "Δ mAP50"))
    load = os.getloadavg()[0]
    conditions = (
        f"{args.weights} on its validation split ({len(images.images)} pictures for mAP50), "
        f"{len(pictures)} pictures × {args.rounds} rounds interleaved for time, whole serving path (letterbox, "
        f"model, NMS), CPU ({os.cpu_count()} cores), load average {load:.1f} at the end."
    )
    print(conditions)
    print(text)
    if args.write:
        write_section("CPU runtimes (bench/runtimes.py)", conditions + "\n\n" + text)


if __name__ == "__main__":
    main()
