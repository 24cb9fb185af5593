"""Train a YOLO detector on a prepared dataset and log the run to ClearML (offline by default).

    python -m jobs.train --data OUT/data.yaml --out RUN [--model yolov8n.yaml] [--epochs E] [--imgsz I]
                         [--batch B] [--device auto] [--preset quick_cpu] [--params params.yaml] [--resume]
                         [--name NAME] [--dataset-version V] [--tag T ...] [--set KEY=VALUE ...] [--queue Q]

Writes RUN/weights/best.pt, RUN/weights/last.pt and RUN/metrics.json, the confidence calibration fitted on the val
split (RUN/weights/calibration.json) and the familiarity reference beside best.pt (RUN/weights/best.familiarity.npz
and .json: is a photo like the training photos? see backend.training.familiarity). Defaults come from the `train`
section of params.yaml; a preset applies on top, then the flags. `--queue` enqueues the same command on a ClearML
queue instead of training here (needs a ClearML server and an agent: `clearml-agent daemon --queue Q`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import yaml

from backend.core.errors import BadInputError
from jobs._cli import cli_parser, run_cli


def _parse_sets(items: list[str]) -> dict[str, Any]:
    """KEY=VALUE pairs, values read as YAML scalars (true, 0.01, 640, AdamW)."""
    values: dict[str, Any] = {}
    for item in items:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise BadInputError(f"--set expects KEY=VALUE, got '{item}'.")
        try:
            values[key.strip()] = yaml.safe_load(raw) if raw.strip() else None
        except yaml.YAMLError as exc:
            raise BadInputError(f"--set {item}: the value is not readable ({exc}).") from exc
    return values


def run(args: argparse.Namespace) -> str:
    """Do the work; return the summary line."""
    from backend.core.params import get_params
    from backend.core.settings import get_settings

    settings = get_settings()
    params = get_params(Path(args.params) if args.params else None)
    overrides: dict[str, Any] = {
        **_parse_sets(args.set or []),
        "model": args.model,
        "epochs": args.epochs,
        "imgsz": args.imgsz,
        "batch": args.batch,
        "device": args.device,
        "resume": True if args.resume else None,
    }
    cfg = params.train_config(preset=args.preset, overrides=overrides)
    out = Path(args.out)
    name = args.name or out.name
    tags = list(args.tag or [])
    if args.preset:
        tags.append(f"preset:{args.preset}")

    if args.queue:
        from backend.training.tracking import enqueue_training

        task_id = enqueue_training(
            cfg,
            data_yaml=args.data,
            run_name=name,
            queue=args.queue,
            out_dir=out,
            tags=tags,
            dataset_version=args.dataset_version,
            settings=settings,
        )
        return f"Enqueued training '{name}' on ClearML queue '{args.queue}' as task {task_id}"

    from backend.core.progress import TerminalProgress
    from backend.training.held_out import calibrate_weights
    from backend.training.trainer import train

    result = train(
        cfg,
        data_yaml=Path(args.data),
        out_dir=out,
        run_name=name,
        tags=tags,
        dataset_version=args.dataset_version,
        progress=TerminalProgress("train"),
        settings=settings,
    )
    familiarity = result.familiarity
    if "threshold" in familiarity:
        print(
            f"familiarity reference: {familiarity['train_images']} training / {familiarity['val_images']} validation "
            f"images, {familiarity['val_false_refusals']:.1%} of the validation images refused",
            file=sys.stderr,
        )
    elif familiarity.get("error"):
        print(f"familiarity reference not fitted: {familiarity['error']}", file=sys.stderr)
    if result.tracking.note:
        print(f"tracking: {result.tracking.note}", file=sys.stderr)
    elif result.tracking.session_zip:
        print(f"ClearML offline session: {result.tracking.session_zip}", file=sys.stderr)
    if result.best.is_file():
        calibration = calibrate_weights(
            result.best, Path(args.data), imgsz=cfg.imgsz, device=cfg.device, progress=TerminalProgress("calibrate")
        )
        print(
            f"confidence calibration: ECE {calibration.ece_before:.3f} -> {calibration.ece_after:.3f} "
            f"on {calibration.detections} held-out detections",
            file=sys.stderr,
        )
    return result.summary_line()


def build_parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    parser = cli_parser(
        "jobs.train",
        "Train a YOLO detector on a prepared dataset; writes RUN/weights/{best,last}.pt and RUN/metrics.json and "
        "logs to ClearML (offline sessions unless a server is configured).",
    )
    parser.epilog = f"{parser.epilog} 130 stopped by a signal (continue with --resume)."
    parser.add_argument("--data", metavar="DATA_YAML", required=True, help="data.yaml written by jobs.prepare")
    parser.add_argument("--out", metavar="RUN", required=True, help="run folder for weights and metrics")
    parser.add_argument("--model", help="architecture .yaml (from scratch), local .pt, or weights name (online)")
    parser.add_argument("--epochs", type=int, help="number of epochs")
    parser.add_argument("--imgsz", type=int, help="image size in pixels")
    parser.add_argument("--batch", type=int, help="batch size")
    parser.add_argument("--device", help="auto (default), cpu, or a CUDA index such as 0")
    parser.add_argument("--preset", help="preset from params.yaml: quick_cpu, standard, full_gpu")
    parser.add_argument("--params", metavar="YAML", help="params file (default: params.yaml / PLATEOPS_PARAMS_FILE)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from weights/last.pt")
    parser.add_argument("--name", help="run name (default: the --out folder name)")
    parser.add_argument("--dataset-version", help="dataset version id, recorded with the run")
    parser.add_argument("--tag", action="append", metavar="TAG", help="extra ClearML tag (repeatable)")
    parser.add_argument("--set", action="append", metavar="KEY=VALUE", help="any train setting (repeatable)")
    parser.add_argument("--queue", metavar="QUEUE", help="enqueue on this ClearML queue instead of training here")
    return parser


class _Interrupted(Exception):  # noqa: N818 - an event, like KeyboardInterrupt
    """Training stopped on a signal; exits 130 rather than the bad-input status."""


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = build_parser().parse_args(argv)
    from backend.training.trainer import TrainingCancelledError

    def cancellable() -> str:
        try:
            return run(args)
        except (TrainingCancelledError, KeyboardInterrupt) as exc:
            raise _Interrupted(str(exc) or "training interrupted") from exc

    try:
        return run_cli(cancellable, quiet_stdout=True)  # ultralytics logs to stdout
    except _Interrupted as exc:
        print(f"error: {exc}; resume with --resume.", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
