"""Interop benchmark: importing a 10,000-image COCO export through `backend.data.formats` against `prepare_coco`.

The import path detects the layout from the export folder, reads it (`read_layout`) and writes the prepared set
(`prepare_source`); the direct COCO path is `prepare_coco` given the json and images folder (since the two import
pipelines became one, it is the same COCO reader and writer, so this measures what detection and the folder search
add). Both write the same YOLO layout and report. The COCO set is built like
`bench/prepare.py` does it (image files are links to a pool of real demo images, every one opened, probed and
copied). Each side runs in a fresh process (spawn); rounds alternate which side goes first; medians reported.
Goal: new / current ≤ 1.2.

Run: python -m bench.interop [--images 10000] [--annotations 40000] [--pool 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from bench.prepare import build_coco
from bench.report import table, write_section
from bench.validate import temp_workspace

GOAL = 1.2


def _child(kind: str, coco_json: str, images_dir: str, out_dir: str, conn: Any) -> None:
    """Run one side in this fresh process; send back (seconds, counts)."""
    import backend.data.formats.convert  # pylint: disable=unused-import  # imported before the clock
    import backend.data.formats.read  # noqa: F401  # pylint: disable=unused-import  # starts, on both sides alike

    start = time.perf_counter()
    if kind == "current":
        from backend.data.formats.convert import prepare_coco

        result = prepare_coco(Path(coco_json), Path(images_dir), Path(out_dir), seed=0)
    else:
        from backend.data.formats.build import prepare_source
        from backend.data.formats.read import find_layout, read_layout

        layout = find_layout(Path(coco_json).parent)  # detected from the export folder, as an import does
        result = prepare_source(read_layout(layout), Path(out_dir), seed=0)
    conn.send((time.perf_counter() - start, result.counts))
    conn.close()


def _run_side(kind: str, coco_json: Path, images_dir: Path, out_dir: Path) -> tuple[float, dict[str, int]]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(kind, str(coco_json), str(images_dir), str(out_dir), child))
    proc.start()
    child.close()
    result = parent.recv()
    proc.join(120)
    if proc.exitcode != 0:
        raise RuntimeError(f"the {kind} side exited with {proc.exitcode}")
    shutil.rmtree(out_dir, ignore_errors=True)
    return result


def bench(*, images: int, annotations: int, pool: int, rounds: int) -> dict[str, Any]:
    """Build the COCO export, then alternate rounds of both sides in fresh processes."""
    loads = [os.getloadavg()[0]]
    with temp_workspace("plateops-bench-interop-") as root:
        coco_json, images_dir = build_coco(root / "export", images=images, annotations=annotations, pool=pool)
        out_dir = root / "workspace" / "prepared"
        runs: dict[str, list[tuple[float, dict[str, int]]]] = {"current": [], "formats": []}
        for index in range(rounds):
            order = ("current", "formats") if index % 2 == 0 else ("formats", "current")
            for kind in order:
                runs[kind].append(_run_side(kind, coco_json, images_dir, out_dir))
            loads.append(os.getloadavg()[0])
    current = statistics.median(r[0] for r in runs["current"])
    new = statistics.median(r[0] for r in runs["formats"])
    return {
        "images": images,
        "annotations": annotations,
        "pool": pool,
        "rounds": rounds,
        "current_s": current,
        "formats_s": new,
        "per_round": [f[0] / c[0] for f, c in zip(runs["formats"], runs["current"], strict=True)],
        "counts_equal": runs["formats"][-1][1]["images"] == runs["current"][-1][1]["images"]
        and runs["formats"][-1][1]["boxes"] == runs["current"][-1][1]["boxes"],
        "counts": runs["formats"][-1][1],
        "loads": loads,
    }


def report(r: dict[str, Any]) -> str:
    """The BENCHMARKS.md section."""
    ratio = r["formats_s"] / r["current_s"]
    rows: list[tuple[str, ...]] = [
        ("`prepare_coco` (json and images folder given)", f"{r['current_s']:.2f} s", "1.00"),
        ("detect + `read_layout` + `prepare_source`", f"{r['formats_s']:.2f} s", f"**{ratio:.2f}**"),
    ]
    c = r["counts"]
    return (
        "## Interop import (`bench/interop.py`)\n\n"
        f"Importing a COCO export of {r['images']:,} images and {r['annotations']:,} annotations through the new "
        "format layer (layout detected from the folder, read, checked and written as the prepared YOLO layout) "
        "against `prepare_coco` given the json and images folder (the same COCO reader and writer). The image "
        f"files are links to {r['pool']} real demo images; both sides open, probe and copy every one. Each side in a "
        f"fresh process; medians of {r['rounds']} alternating rounds. Goal: ≤ {GOAL}×.\n\n"
        + table(rows, ("side", "time", "time / current"))
        + "\n\nPer-round new / current: "
        + ", ".join(f"{x:.2f}" for x in r["per_round"])
        + f". Same output on both sides: {'yes' if r['counts_equal'] else 'NO'} ({c.get('images', 0):,} images, "
        f"{c.get('boxes', 0):,} boxes, {c.get('train', 0):,} train / {c.get('val', 0):,} val). Load while "
        "measuring: "
        + ", ".join(f"{x:.2f}" for x in r["loads"])
        + f" (1-min load average, before and after each round) on {os.cpu_count()} shared cores."
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and write its BENCHMARKS.md section."""
    parser = argparse.ArgumentParser(prog="python -m bench.interop", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    parser.add_argument("--annotations", type=int, default=40_000)
    parser.add_argument("--pool", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    result = bench(images=args.images, annotations=args.annotations, pool=args.pool, rounds=args.rounds)
    path = write_section("interop", report(result))
    print(f"new / current = {result['formats_s'] / result['current_s']:.2f} -> {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
