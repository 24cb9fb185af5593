"""Detect food on images with trained weights: `python -m jobs.detect --weights W [--conf C] --json IMAGE...`.

With `--json`, stdout carries exactly one JSON line per image, in the order given:
    {"image": "<path as given>", "familiar": true, "familiarity": 1.23,
     "detections": [{"class", "confidence", "box": [x1, y1, x2, y2]}], "latency_ms"}
`familiar` is false when the photo is unlike the model's training photos (`backend.serving.familiarity`); then
`detections` is empty. `familiarity` is the decision score (higher is less familiar), null when the model has no
familiarity reference (then `familiar` stays true). Boxes are in pixels of the upright image (EXIF orientation
applied). An image that cannot be read yields
    {"image": ..., "familiar": null, "familiarity": null, "detections": [], "latency_ms": null, "error": "..."}
and the run goes on. Progress and the one-line summary go to stderr, so stdout stays pure JSON lines.
Without `--json`, a table of detections and the summary line are printed on stdout.

Exit status: 0 when every image was processed; 1 when at least one image failed (its line carries "error");
2 on bad arguments or unusable weights (one-line message on stderr).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from backend.core.errors import BadInputError, PlateOpsError
from backend.core.progress import TerminalProgress, null_progress
from backend.imaging.loading import load_image
from backend.serving.familiarity import Familiarity, familiarity_check
from backend.serving.inference import DetectionResult, Detector
from backend.serving.thresholds import resolve_thresholds
from backend.training.yolo import ultralytics_logs_to_stderr
from jobs._cli import EXIT_DONE, EXIT_FINDINGS, Outcome, bad_arguments, cli_parser, run_cli


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    parser = cli_parser(
        "jobs.detect",
        "Detect food on images with YOLO weights (.pt from our training, or .onnx).",
        findings="some image could not be read (its line carries 'error')",
    )
    parser.add_argument("images", nargs="+", type=Path, metavar="IMAGE", help="JPEG, PNG, WebP or BMP files.")
    parser.add_argument("--weights", required=True, type=Path, help="Model weights: .pt or .onnx.")
    parser.add_argument(
        "--conf", type=float, default=None, help="Minimum confidence 0-1 (default: detect.conf in params.yaml)."
    )
    parser.add_argument(
        "--iou", type=float, default=None, help="NMS IoU threshold 0-1 (default: detect.iou in params.yaml)."
    )
    parser.add_argument("--imgsz", type=int, default=None, help="Inference size (default: the model's own).")
    parser.add_argument("--device", default="cpu", help="Torch device: cpu, 0, cuda:0 (default cpu).")
    parser.add_argument("--json", action="store_true", help="Print one JSON line per image on stdout.")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run detection on the given images and print the results; returns the exit status."""
    args = build_parser().parse_args(argv)
    try:
        args.conf, args.iou = resolve_thresholds(args.conf, args.iou)
    except BadInputError as exc:  # before the weights load: a typo costs no model loading
        return bad_arguments(str(exc))
    ultralytics_logs_to_stderr()
    return run_cli(lambda: _detect(args))


def _detect(args: argparse.Namespace) -> Outcome:
    """Load the weights (bad weights: exit 2) and detect on every image; an unreadable image is a finding."""
    detector = Detector.load(args.weights, device=args.device)
    check = familiarity_check(detector)
    total = len(args.images)
    progress = TerminalProgress("detect") if total > 1 else null_progress
    failed = unfamiliar = objects = 0
    latencies: list[float] = []
    rows: list[_Row] = []
    for index, path in enumerate(args.images, start=1):
        verdict: Familiarity | None = None
        try:
            loaded = load_image(path, name=path.name)
            predicted = detector.predict(
                [loaded.image], conf=args.conf, iou=args.iou, imgsz=args.imgsz, embed=check.model is not None
            )[0]
        except PlateOpsError as exc:
            failed += 1
            result, error = None, str(exc)
        else:
            verdict = check.judge(predicted.embedding)
            if not verdict.familiar:  # whatever the model saw on a picture unlike its training pictures is noise
                predicted.detections = []
                unfamiliar += 1
            result, error = predicted, ""
            objects += len(predicted.detections)
            latencies.append(predicted.latency_ms)
        if args.json:
            print(json.dumps(_json_record(str(path), result, verdict, error)), flush=True)
        else:
            rows.append(_Row(str(path), result, verdict, error))
        progress(index / total, f"{index}/{total} images")

    mean_latency = sum(latencies) / len(latencies) if latencies else 0.0
    summary = (
        f"Detected {objects} objects on {total - failed} of {total} images with {args.weights.name} "
        f"(mean {mean_latency:.1f} ms per image)"
        + (f"; {unfamiliar} unlike the training photos (no detections)" if unfamiliar else "")
        + (f"; {failed} failed" if failed else "")
    )
    if not args.json:
        _print_table(rows)
    return Outcome(summary, EXIT_FINDINGS if failed else EXIT_DONE, to_stderr=args.json)


@dataclass(frozen=True)
class _Row:
    """One image's outcome, for the table."""

    image: str
    result: DetectionResult | None
    verdict: Familiarity | None
    error: str


def _json_record(
    image: str, result: DetectionResult | None, verdict: Familiarity | None, error: str
) -> dict[str, object]:
    """The JSON line for one image."""
    if result is None or verdict is None:
        return {
            "image": image,
            "familiar": None,
            "familiarity": None,
            "detections": [],
            "latency_ms": None,
            "error": error,
        }
    return {
        "image": image,
        "familiar": verdict.familiar,
        "familiarity": verdict.score,
        "detections": [det.as_dict() for det in result.detections],
        "latency_ms": result.latency_ms,
    }


def _print_table(rows: list[_Row]) -> None:
    """Human-readable table: one row per detection, or the error of an image."""
    print(f"{'image':<40} {'class':<12} {'conf':>5}  box (x1, y1, x2, y2)")
    for row in rows:
        image, result, error = row.image, row.result, row.error
        name = image if len(image) <= 40 else "…" + image[-39:]
        if result is None:
            print(f"{name:<40} error: {error}")
        elif row.verdict is not None and not row.verdict.familiar:
            print(f"{name:<40} (unlike the training photos: no detections)")
        elif not result.detections:
            print(f"{name:<40} {'(nothing)':<12}        {result.latency_ms:.1f} ms")
        for det in result.detections if result is not None else []:
            box = ", ".join(f"{v:.1f}" for v in det.box)
            print(f"{name:<40} {det.class_name:<12} {det.confidence:5.2f}  ({box})")


if __name__ == "__main__":
    sys.exit(main())
