"""Prepare benchmark: COCO → YOLO (`prepare_coco`) on a 50,000-annotation JSON, time and peak memory.

The COCO file lists 8,000 images and 50,000 annotations. The 8,000 image files are hard links to 50 real demo
images (so the disk holds 50 JPEGs; `prepare` still opens, probes and links every one of the 8,000 names). Each
side runs in its own fresh process (spawn); its peak memory is the resident-set high-water mark during the call
(reset just before it through /proc/self/clear_refs, falling back to `resource.getrusage` growth) minus the
resident set just before it, so the interpreter and imports are excluded. Time and memory are stated as ratios
to a bare `json.load` of the same file measured the same way, and peak memory also as a multiple of the file's
size, so the figures hold on any machine. A third side, `probe_images` over the same files alone, shows how much
of prepare's time is the per-image decode check. Rounds alternate which side runs first; medians are reported.

Run: python -m bench.prepare [--images 8000] [--annotations 50000] [--pool 50] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import random
import resource
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from bench.report import table, write_section
from bench.validate import cached_demo, load_line, temp_workspace

DEMO_IMAGES = 2000
DEMO_SEED = 1


def build_coco(root: Path, *, images: int, annotations: int, pool: int) -> tuple[Path, Path]:
    """Write `root/annotations.json` and `root/images/` (hard links to `pool` demo images); returns both paths."""
    demo = cached_demo(DEMO_IMAGES, DEMO_SEED)
    source = json.loads((demo / "annotations.json").read_text(encoding="utf-8"))
    base = source["images"][:pool]
    boxes: dict[int, list[dict[str, Any]]] = {im["id"]: [] for im in base}
    for ann in source["annotations"]:
        if ann["image_id"] in boxes:
            boxes[ann["image_id"]].append(ann)
    images_dir = root / "images"
    images_dir.mkdir(parents=True)
    coco_images = []
    for i in range(images):
        entry = base[i % pool]
        name = f"plate_{i:05d}.jpg"
        try:
            os.link(demo / "images" / entry["file_name"], images_dir / name)
        except OSError:
            shutil.copyfile(demo / "images" / entry["file_name"], images_dir / name)
        coco_images.append({"id": i + 1, "file_name": name, "width": entry["width"], "height": entry["height"]})
    rng = random.Random(0)
    coco_anns = []
    for j in range(annotations):
        i = j % images
        entry = base[i % pool]
        candidates = boxes[entry["id"]] or [{"category_id": source["categories"][0]["id"], "bbox": [10, 10, 50, 50]}]
        ann = candidates[(j // images) % len(candidates)]
        x, y, w, h = ann["bbox"]
        dx, dy = rng.uniform(-3, 3), rng.uniform(-3, 3)  # a few px apart, so repeated boxes are not identical
        x = min(max(0.0, x + dx), entry["width"] - w)
        y = min(max(0.0, y + dy), entry["height"] - h)
        bbox = [round(x, 2), round(y, 2), w, h]
        coco_anns.append(
            {
                "id": j + 1,
                "image_id": i + 1,
                "category_id": ann["category_id"],
                "bbox": bbox,
                "area": round(w * h, 2),
                "iscrowd": 0,
            }
        )
    coco = {
        "info": {"description": "PlateOps prepare benchmark"},
        "images": coco_images,
        "annotations": coco_anns,
        "categories": source["categories"],
    }
    path = root / "annotations.json"
    path.write_text(json.dumps(coco), encoding="utf-8")
    return path, images_dir


def _status_kib(field: str) -> int | None:
    try:
        for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
            if line.startswith(f"{field}:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def _reset_peak() -> bool:
    """Reset this process's peak-RSS mark (Linux: write 5 to /proc/self/clear_refs); False where unsupported."""
    try:
        Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    except OSError:
        return False
    return _status_kib("VmHWM") is not None


def _child(kind: str, coco_json: str, images_dir: str, out_dir: str, conn) -> None:
    """Run one side in this fresh process and send back (seconds, peak growth KiB, baseline KiB, extra).

    Peak growth is the high-water mark of the resident set during the call minus the resident set just before it
    (the interpreter and imports). The mark is reset right before the call, so import-time peaks do not hide it;
    where that is impossible, the growth of `ru_maxrss` is used instead (a lower bound).
    """
    import gc

    import backend.data.formats.convert  # noqa: F401  # imports before the baseline, on both sides alike

    gc.collect()
    exact = _reset_peak()
    before = (_status_kib("VmRSS") if exact else None) or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    extra: dict[str, Any] = {"method": "VmHWM after reset" if exact else "ru_maxrss growth"}
    if kind == "json":
        with open(coco_json, "rb") as handle:
            data = json.load(handle)
        extra["annotations"] = len(data["annotations"])
    elif kind == "probe":
        from backend.core.settings import get_settings
        from backend.data.quality import probe_images

        paths = sorted(Path(images_dir).iterdir())
        extra["probed"] = sum(1 for _ in probe_images(paths, max_pixels=get_settings().max_image_pixels))
    else:
        from backend.data.formats.convert import prepare_coco

        result = prepare_coco(Path(coco_json), Path(images_dir), Path(out_dir), seed=0)
        extra["counts"] = result.counts
        extra["issues"] = result.issues_by_severity
        extra["workers_peak_kib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    seconds = time.perf_counter() - start
    peak = (_status_kib("VmHWM") if exact else None) or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    conn.send((seconds, peak - before, before, extra))
    conn.close()


def _run_side(kind: str, coco_json: Path, images_dir: Path, out_dir: Path) -> tuple[float, int, int, dict]:
    ctx = mp.get_context("spawn")
    parent, child = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_child, args=(kind, str(coco_json), str(images_dir), str(out_dir), child))
    proc.start()
    child.close()
    result = parent.recv()
    proc.join(60)
    if proc.exitcode != 0:
        raise RuntimeError(f"the {kind} side exited with {proc.exitcode}")
    shutil.rmtree(out_dir, ignore_errors=True)
    return result


def bench(*, images: int, annotations: int, pool: int, rounds: int) -> dict:
    """Build the COCO set, then alternate json.load and prepare_coco rounds in fresh processes."""
    loads = [os.getloadavg()[0]]
    with temp_workspace("plateops-bench-prepare-") as root:
        started = time.perf_counter()
        coco_json, images_dir = build_coco(root / "coco", images=images, annotations=annotations, pool=pool)
        build_s = time.perf_counter() - started
        file_mb = coco_json.stat().st_size / 2**20
        out_dir = root / "prepared"
        runs: dict[str, list[tuple[float, int, int, dict]]] = {"json": [], "probe": [], "prepare": []}
        for index in range(rounds):
            order = ("json", "probe", "prepare") if index % 2 == 0 else ("prepare", "probe", "json")
            for kind in order:
                runs[kind].append(_run_side(kind, coco_json, images_dir, out_dir))
            loads.append(os.getloadavg()[0])
    json_s = statistics.median(r[0] for r in runs["json"])
    prep_s = statistics.median(r[0] for r in runs["prepare"])
    probe_s = statistics.median(r[0] for r in runs["probe"])
    json_mib = max(statistics.median(r[1] for r in runs["json"]), 1) / 1024  # KiB resolution
    prep_mib = statistics.median(r[1] for r in runs["prepare"]) / 1024
    last = runs["prepare"][-1][3]
    return {
        "images": images,
        "annotations": annotations,
        "pool": pool,
        "rounds": rounds,
        "build_s": build_s,
        "file_mb": file_mb,
        "json_s": json_s,
        "prep_s": prep_s,
        "probe_s": probe_s,
        "json_mib": json_mib,
        "prep_mib": prep_mib,
        "baseline_mib": statistics.median(r[2] for r in runs["prepare"]) / 1024,
        "workers_mib": last["workers_peak_kib"] / 1024,
        "method": last["method"],
        "counts": last["counts"],
        "issues": last["issues"],
        "per_round_time": [p[0] / j[0] for p, j in zip(runs["prepare"], runs["json"], strict=True)],
        "per_round_mem": [p[1] / max(1, j[1]) for p, j in zip(runs["prepare"], runs["json"], strict=True)],
        "loads": loads,
    }


def report(r: dict) -> str:
    """The BENCHMARKS.md section."""
    rows = [
        (
            "bare `json.load`",
            f"{r['json_s']:.2f} s",
            f"{r['annotations'] / r['json_s']:,.0f}/s",
            f"{r['json_mib']:.1f} MiB",
            f"{r['json_mib'] / r['file_mb']:.1f}×",
            "1.00",
            "1.00",
        ),
        (
            "`prepare_coco`",
            f"{r['prep_s']:.2f} s",
            f"{r['annotations'] / r['prep_s']:,.0f}/s",
            f"{r['prep_mib']:.1f} MiB",
            f"{r['prep_mib'] / r['file_mb']:.1f}×",
            f"**{r['prep_s'] / r['json_s']:.1f}**",
            f"**{r['prep_mib'] / r['json_mib']:.2f}**",
        ),
    ]
    c = r["counts"]
    return (
        "## Prepare (`bench/prepare.py`)\n\n"
        f"`prepare_coco` on a COCO file of {r['images']:,} images and {r['annotations']:,} annotations "
        f"({r['file_mb']:.1f} MiB of compact JSON); the image files are hard links to {r['pool']} real demo images, "
        "so every one of them is opened, probed (header + draft decode, in a process pool) and linked. Each side runs "
        "in a fresh process; peak memory is that process's resident-set high-water mark during the call minus its "
        f"resident set just before it (the interpreter and imports, {r['baseline_mib']:.0f} MiB, excluded; measured "
        f"as {r['method']}). Medians of {r['rounds']} alternating rounds.\n\n"
        + table(
            rows,
            (
                "side",
                "time",
                "annotations/s",
                "peak memory",
                "memory / file size",
                "time / json.load",
                "memory / json.load",
            ),
        )
        + "\n\nPer-round prepare / json.load: time "
        + ", ".join(f"{x:.1f}" for x in r["per_round_time"])
        + "; memory "
        + ", ".join(f"{x:.2f}" for x in r["per_round_mem"])
        + f". Of prepare's time, probing the {r['images']:,} files alone (`probe_images`, same pool, a fresh process) "
        f"takes {r['probe_s']:.2f} s, i.e. **{r['probe_s'] / r['prep_s']:.0%}** of it; the rest is reading the JSON, "
        "converting boxes, the split, linking the images and writing the label files and report. The probe pool's "
        f"largest worker peaked at {r['workers_mib']:.0f} MiB (whole process). Output: "
        f"{c.get('images', 0):,} images ({c.get('train', 0):,} train / {c.get('val', 0):,} val), "
        f"{c.get('boxes', 0):,} boxes, issues {r['issues']}. Load while measuring: "
        + ", ".join(f"{x:.2f}" for x in r["loads"])
        + f" (1-min load average, before and after each round) on {os.cpu_count()} shared cores."
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, write its BENCHMARKS.md section and print one summary line."""
    parser = argparse.ArgumentParser(prog="python -m bench.prepare", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8000, help="COCO image entries (default 8000).")
    parser.add_argument("--annotations", type=int, default=50000, help="COCO annotations (default 50000).")
    parser.add_argument("--pool", type=int, default=50, help="Distinct demo images linked under those names.")
    parser.add_argument("--rounds", type=int, default=3, help="Alternating rounds (default 3).")
    args = parser.parse_args(argv)
    result = bench(images=args.images, annotations=args.annotations, pool=args.pool, rounds=args.rounds)
    path = write_section("prepare", report(result))
    print(
        f"prepare: {result['annotations']:,} annotations in {result['prep_s']:.2f} s "
        f"({result['annotations'] / result['prep_s']:,.0f}/s), {result['prep_s'] / result['json_s']:.1f}× json.load "
        f"time, peak {result['prep_mib']:.0f} MiB = {result['prep_mib'] / result['json_mib']:.2f}× json.load, "
        f"{result['prep_mib'] / result['file_mb']:.1f}× file size; written to {path.name}; {load_line()}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
