"""Shadow benchmark: the end user's latency on the Detect path with and without a model in shadow.

One process, one workspace: production (the newest run) answers `serving.detect_image` for every picture; the same
pictures are sent in alternating blocks with a candidate in shadow and without one (the registry's own
`put_in_shadow` / `take_out_of_shadow` switch it). Requests within a block come back to back (or `--gap-ms` apart),
so in a shadow block the shadow's model call runs while the next end user's request is being answered: the worst
case for the end user. Before each block without shadow the shadow's queue is drained (untimed), so those blocks see
no shadow work at all. Timed: the whole `detect_image` call (the end user's wait). Goal: with / without ≤ 1.05.

Run: python -m bench.shadow [--images 20] [--imgsz 320] [--rounds 2] [--block 5] [--gap-ms 0 80 500]
Both models are untrained YOLOv8n with the food classes (same architecture and cost as trained ones).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

from bench.detect import _untrained_yolov8n
from bench.report import table, write_section


def bench(*, images: int, imgsz: int, rounds: int, block: int, gap_ms: float) -> dict:
    """Time the end user's calls in shadow and plain blocks; returns the figures for the report."""
    from backend.core.access import SYSTEM
    from backend.core.enums import RunStatus
    from backend.core.settings import get_settings, init_workspace
    from backend.data.demo import generate_demo_dataset
    from backend.registry.shadow import put_in_shadow, shadow_agreement, take_out_of_shadow
    from backend.serving import service as serving
    from backend.serving.copies import wait_for_copies
    from backend.serving.shadow import shadow_queue
    from backend.store import runs as run_store
    from backend.store import shadow as shadow_store
    from backend.store.engine import dispose_all, session_scope

    with tempfile.TemporaryDirectory(prefix="plateops-bench-shadow-") as tmp:
        root = Path(tmp)
        os.environ["PLATEOPS_HOME"] = str(root / "workspace")
        os.environ["PLATEOPS_AUTO_DEMO"] = "false"
        os.environ.pop("PLATEOPS_DATABASE_URL", None)
        get_settings.cache_clear()
        dispose_all()
        settings = init_workspace()
        generate_demo_dataset(root / "demo", images=images, seed=13)
        paths = sorted((root / "demo" / "images").glob("*.jpg"))[:images]
        run_ids = []
        for name in ("candidate", "production"):  # the newest run serves; the older one is the candidate
            best = _untrained_yolov8n(settings.runs_dir / name / "weights" / "best.pt", imgsz)
            with session_scope() as session:
                run = run_store.create_run(session=session, name=name, run_dir=str(best.parent.parent))
                done = run_store.RunUpdate(status=RunStatus.SUCCEEDED, weights_path=str(best))
                run_ids.append(run_store.update_run(session=session, run_id=run.id, changes=done).id)
        model = serving.serving_model()
        assert model is not None and model.run_id == run_ids[1]
        detector = serving.load_detector(model, device="cpu")

        def detect(path: Path) -> float:
            start = time.perf_counter()
            serving.detect_image(
                path.read_bytes(), name=path.name, detector=detector, model=model, imgsz=imgsz, store_images=True
            )
            return (time.perf_counter() - start) * 1000.0

        put_in_shadow(actor=SYSTEM, run_id=run_ids[0], reason="benchmark")
        for path in paths[:3]:  # warm up production and the shadow (its model loads on the shadow thread)
            detect(path)
        shadow_queue().wait(timeout=300)
        take_out_of_shadow(actor=SYSTEM)
        before = shadow_queue().stats()

        timed: dict[bool, list[float]] = {True: [], False: []}
        order = [paths[i : i + block] for i in range(0, len(paths), block)]
        for round_index in range(rounds):
            for index, chunk in enumerate(order):
                shadowed = (index + round_index) % 2 == 0
                shadow_queue().wait(timeout=300)  # untimed: a block starts with no shadow work left over
                wait_for_copies()
                if shadowed:
                    put_in_shadow(actor=SYSTEM, run_id=run_ids[0])
                for path in chunk:
                    timed[shadowed].append(detect(path))
                    if gap_ms:
                        time.sleep(gap_ms / 1000.0)
                if shadowed:  # untimed: the shadow answers what it queued before it is taken out
                    shadow_queue().wait(timeout=300)
                    take_out_of_shadow(actor=SYSTEM)
        shadow_queue().wait(timeout=300)
        after = shadow_queue().stats()
        with session_scope() as session:
            logged = shadow_store.count_shadow_predictions(session=session)
        put_in_shadow(actor=SYSTEM, run_id=run_ids[0])
        figures = shadow_agreement()
        dispose_all()
        get_settings.cache_clear()

    with_s, without = timed[True], timed[False]
    return {
        "images": len(paths),
        "imgsz": imgsz,
        "rounds": rounds,
        "block": block,
        "gap_ms": gap_ms,
        "with_ms": statistics.mean(with_s),
        "without_ms": statistics.mean(without),
        "with_median": statistics.median(with_s),
        "without_median": statistics.median(without),
        "ratio": statistics.mean(with_s) / statistics.mean(without),
        "median_ratio": statistics.median(with_s) / statistics.median(without),
        "calls": (len(with_s), len(without)),
        "answered": after.answered - before.answered,
        "skipped": after.skipped - before.skipped,
        "failed": after.failed - before.failed,
        "logged": logged,
        "pictures_compared": figures.pictures if figures else 0,
        "load": " / ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def report(results: list[dict]) -> str:
    """The BENCHMARKS.md section: one row per pause between requests."""
    rows = [
        (
            f"{r['images']} demo images × {r['rounds']}, imgsz {r['imgsz']}, CPU, blocks of {r['block']}, "
            f"pause {r['gap_ms']:g} ms",
            f"{r['without_ms']:.1f} ms (median {r['without_median']:.1f})",
            f"{r['with_ms']:.1f} ms (median {r['with_median']:.1f})",
            f"**{r['ratio']:.3f}** (medians {r['median_ratio']:.3f})",
            f"{r['answered']} / {r['skipped']} / {r['failed']}",
        )
        for r in results
    ]
    r = results[-1]
    return (
        "## Shadow answers (`bench/shadow.py`)\n\n"
        "The end user's wait on the Detect path (`serving.detect_image`, whole call, pictures kept) with a candidate "
        "in shadow and without one, in alternating blocks of requests (the order of blocks alternates between "
        "passes), requests back to back or a fixed pause apart. The shadow (one low-priority background thread) "
        "starts a picture only after no end-user request ran for 50 ms: back to back it waits, and with a pause "
        "just longer than that its model call is still running when the next end user's request arrives (the "
        "worst case). Around each block the shadow's queue is drained, untimed. Both models are untrained YOLOv8n "
        "`.pt` on CPU (same cost as trained ones). Goal: with / without ≤ 1.05.\n\n"
        + table(
            rows,
            (
                "run",
                "without shadow / call",
                "with shadow / call",
                "with / without",
                "shadow answered / skipped / failed",
            ),
        )
        + f"\n\nTimed calls with / without: {r['calls'][0]} / {r['calls'][1]} per row; shadow answers logged "
        f"(last row) {r['logged']}, pictures compared on the Models page {r['pictures_compared']}. Skipped: the "
        "queue (4 pictures) was full. Load average while it ran: "
        f"{r['load']} (run with `nice -n 10` while other jobs used the 2 cores), so single figures vary."
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, write its BENCHMARKS.md section and print one summary line."""
    parser = argparse.ArgumentParser(prog="python -m bench.shadow", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=20, help="Demo pictures (default 20).")
    parser.add_argument("--imgsz", type=int, default=320, help="Inference size of both models (default 320).")
    parser.add_argument("--rounds", type=int, default=2, help="Passes over the pictures (default 2).")
    parser.add_argument("--block", type=int, default=5, help="Pictures per block with or without shadow (default 5).")
    parser.add_argument(
        "--gap-ms",
        type=float,
        nargs="+",
        default=[0.0, 80.0, 500.0],
        help="Pauses between requests (default 0, 80 and 500 ms).",
    )
    args = parser.parse_args(argv)
    if min(args.images, args.imgsz, args.rounds, args.block) < 1 or min(args.gap_ms) < 0:
        parser.error("--images, --imgsz, --rounds and --block must be at least 1, --gap-ms at least 0")
    results = [
        bench(images=args.images, imgsz=args.imgsz, rounds=args.rounds, block=args.block, gap_ms=gap)
        for gap in args.gap_ms
    ]
    path = write_section("shadow", report(results))
    ratios = ", ".join(f"{r['ratio']:.3f} (pause {r['gap_ms']:g} ms)" for r in results)
    print(f"shadow: end user's wait with / without a shadow {ratios} (goal ≤ 1.05); written to {path.name}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
