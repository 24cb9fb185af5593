"""Datasets page benchmark: versions of 1,000 / 10,000 / 100,000 images, each browsed through the page (AppTest).

Every version is built the way an import builds it, in one temporary workspace: a COCO file whose image entries are
hard links to real demo images (a pool of 200 distinct ones), converted with `prepare_coco` into the version folder,
recorded in the store and indexed with `build_version_index` (timed: the index's share of the import). The smallest
version is validated with `validate_dataset`; the `exact_duplicate` / `near_duplicate` issues the hard links cause
are left out. The larger versions get the same issues per distinct picture copied onto each of their copies, so
every version carries the demo's own issue density without validating 100,000 hard links (hours on two cores).
DVC freezing is skipped: the page does not read DVC.

Each measurement is a fresh `AppTest.from_file("Home.py")`: run Home, clear `st.cache_data`, switch to
`pages/datasets.py` with the version picked, and time the first render (Overview tab, nothing cached), a rerun, the
Quality tab, the Gallery tab, a gallery filter change (one class) and a page turn. Rounds alternate the order of the
versions; medians are reported. Goal at the largest size: each figure ≤ 1.0 s and ≤ 3× the smallest version's;
the index ≤ 10 % of the import (prepare + validation; validation measured on the smallest version and scaled by
image count above it; DVC freezing left out).

Run: python -m bench.datasets_page [--sizes 1000,10000,100000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
from pathlib import Path
from typing import Any

from bench.report import table, write_section
from bench.validate import cached_demo, load_line, temp_workspace

DEMO_IMAGES = 2000
DEMO_SEED = 1
POOL = 200
PROJECT_ROOT = Path(__file__).resolve().parent.parent
PAGE = "pages/datasets.py"
QUALITY_MARKERS = ("Every image passed", "deserve a look", "have errors", "Not validated")
ARTEFACT_CHECKS = ("exact_duplicate", "near_duplicate")  # caused by the hard links, not by the data


def build_coco(root: Path, *, images: int, pool: int) -> Path:
    """`root/annotations.json` + `root/images/` with `images` entries, hard links to `pool` distinct demo images."""
    demo = cached_demo(DEMO_IMAGES, DEMO_SEED)
    source = json.loads((demo / "annotations.json").read_text(encoding="utf-8"))
    base = source["images"][:pool]
    by_image: dict[int, list[dict[str, Any]]] = {im["id"]: [] for im in base}
    for ann in source["annotations"]:
        if ann["image_id"] in by_image:
            by_image[ann["image_id"]].append(ann)
    (root / "images").mkdir(parents=True)
    coco_images, coco_anns = [], []
    for i in range(images):
        entry = base[i % len(base)]
        name = f"plate_{i:05d}.jpg"
        try:
            os.link(demo / "images" / entry["file_name"], root / "images" / name)
        except OSError:
            shutil.copyfile(demo / "images" / entry["file_name"], root / "images" / name)
        coco_images.append({"id": i + 1, "file_name": name, "width": entry["width"], "height": entry["height"]})
        for ann in by_image[entry["id"]]:
            coco_anns.append({**ann, "id": len(coco_anns) + 1, "image_id": i + 1})
    coco = {"images": coco_images, "annotations": coco_anns, "categories": source["categories"]}
    path = root / "annotations.json"
    path.write_text(json.dumps(coco), encoding="utf-8")
    return path


FIGURES = (
    ("first", "**first render** (Overview tab, nothing cached)"),
    ("again", "rerun"),
    ("quality", "Quality tab"),
    ("gallery", "Gallery tab"),
    ("filter", "gallery filter change (one class)"),
    ("turn", "gallery page turn"),
)


def _record(*, name: str, folder: Path, counts: dict[str, Any], summary: dict[str, Any]) -> int:
    """Record a dataset with one version at `folder`; returns the version id."""
    from backend.store import datasets as dataset_store
    from backend.store.engine import session_scope

    with session_scope() as session:
        dataset = dataset_store.create_dataset(session=session, name=name, source="coco")
        version = dataset_store.create_version(
            session=session,
            dataset_id=dataset.id,
            path=str(folder.resolve()),
            author="bench",
            message=f"{counts['images']:,} images (benchmark)",
            stats=counts,
            changelog=[{"action": "import", "format": "coco", **counts}],
        )
        return version.id


def _store_issues(version_id: int, summary: dict[str, Any], issues: list[dict[str, str]]) -> None:
    from collections import Counter

    from backend.core.enums import ValidationStatus
    from backend.store import datasets as dataset_store
    from backend.store.engine import session_scope

    by_sev = {s: sum(1 for i in issues if i["severity"] == s) for s in ("error", "warning", "info")}
    summary = {
        **summary,
        "issues_by_check": dict(sorted(Counter(i["check"] for i in issues).items())),
        "issues_by_severity": by_sev,
    }
    status = ValidationStatus.of(errors=by_sev["error"], warnings=by_sev["warning"])
    with session_scope() as session:
        dataset_store.set_validation(
            session=session, version_id=version_id, status=status, summary=summary, issues=issues
        )


def _copy_issues(base: list[dict[str, str]], images: int) -> list[dict[str, str]]:
    """The smallest version's issues of each distinct picture, onto every copy of it in a bigger version."""
    per_picture: dict[int, list[dict[str, str]]] = {}
    for issue in base:
        stem = Path(issue["file"]).stem
        if stem.startswith("plate_") and stem[6:].isdigit() and int(stem[6:]) < POOL:
            per_picture.setdefault(int(stem[6:]), []).append(issue)
    out = []
    for i in range(images):
        for issue in per_picture.get(i % POOL, []):
            out.append({**issue, "file": f"plate_{i:05d}{Path(issue['file']).suffix}"})
    return out


def make_version(root: Path, *, images: int, base: dict[str, Any] | None) -> dict[str, Any]:
    """Build, record and index one version (validated when `base` is None, else given `base`'s issues)."""
    from backend.core.settings import get_settings
    from backend.data.formats.convert import prepare_coco
    from backend.data.index import build_version_index
    from backend.data.quality import validate_dataset

    settings = get_settings()
    name = f"bench-{images}"
    coco = build_coco(root / f"src-{name}", images=images, pool=min(images, POOL))
    folder = settings.datasets_dir / name / "v1"
    started = time.perf_counter()
    result = prepare_coco(coco, coco.parent / "images", folder, seed=0)
    prepare_s = time.perf_counter() - started
    version_id = _record(name=name, folder=folder, counts=result.counts, summary={})
    started = time.perf_counter()
    state = build_version_index(version_id)
    index_s = time.perf_counter() - started
    checked_s = None
    if base is None:
        started = time.perf_counter()
        report = validate_dataset(folder, cache_dir=settings.cache_dir)
        checked_s = time.perf_counter() - started
        issues = [i.to_dict() for i in report.issues if i.to_dict()["check"] not in ARTEFACT_CHECKS]
        summary = report.summary
    else:
        issues, summary = _copy_issues(base["issues"], images), base["summary"]
    _store_issues(version_id, summary, issues)
    shutil.rmtree(coco.parent)  # the version folder holds its own links
    return {
        "id": version_id,
        "name": name,
        "images": result.counts["images"],
        "boxes": state.boxes,
        "issues": issues,
        "summary": summary,
        "class_name": next(
            n for c, n in enumerate(state.names) if any(row[0] == c for row in state.summary["class_split"])
        ),
        "prepare_s": prepare_s,
        "index_s": index_s,
        "validate_s": checked_s,
    }


def _run(at: Any) -> float:
    start = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - start
    if at.exception:
        raise RuntimeError(f"the page raised: {[e.value for e in at.exception]}")
    return seconds


def render_once(version: dict[str, Any]) -> dict[str, float]:
    """One fresh AppTest session: Home, then the Datasets page's first render, rerun, Quality, Gallery, a filter
    change and a page turn."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from backend.data.index import index_state
    from ui.datasets.versions import TABS

    st.cache_data.clear()
    at = AppTest.from_file(str(PROJECT_ROOT / "Home.py"), default_timeout=600)
    _run(at)
    at.session_state["ds_pick_dataset"] = version["name"]
    at.session_state["ds_pick_version"] = version["id"]
    st.cache_data.clear()  # nothing the Home run read is reused: a cold first render
    at.switch_page(PAGE)
    out = {"first": _run(at)}
    shown = {m.label: m.value for m in at.metric}
    if str(shown.get("Images", "")).replace(",", "") != str(version["images"]):
        raise RuntimeError(f"the page shows {shown.get('Images')!r} images, expected {version['images']}")
    out["again"] = _run(at)
    at.session_state["ds_tab"] = TABS[1]
    out["quality"] = _run(at)
    if not any(marker in str(m.value) for m in at.markdown for marker in QUALITY_MARKERS):
        raise RuntimeError("the Quality tab did not show its verdict")
    at.session_state["ds_tab"] = TABS[2]
    out["gallery"] = _run(at)
    state = index_state(version["id"])
    assert state is not None
    at.multiselect(key="ds_gallery_classes").set_value([state.names.index(version["class_name"])])
    out["filter"] = _run(at)
    at.number_input(key="ds_gallery_page").set_value(2)
    out["turn"] = _run(at)
    out["tiles"] = float(len(at.image))
    return out


def bench(*, sizes: list[int], rounds: int) -> dict[str, Any]:
    """Build the versions, then alternate their renders; returns the figures."""
    import ui.datasets.gallery  # the page's modules, imported before the long build
    import ui.datasets.overview
    import ui.datasets.quality
    import ui.datasets.versions  # noqa: F401
    from backend.console.bootstrap import start_console

    loads = [os.getloadavg()[0]]
    with temp_workspace("plateops-bench-datasets-page-") as root:
        os.environ.setdefault("PLATEOPS_CLEARML_MODE", "offline")
        start_console()
        versions: list[dict[str, Any]] = []
        for images in sizes:
            versions.append(make_version(root, images=images, base=versions[0] if versions else None))
            print(
                f"built {images:,}: prepare {versions[-1]['prepare_s']:.1f} s, index {versions[-1]['index_s']:.1f} s",
                flush=True,
            )
        loads.append(os.getloadavg()[0])
        render_once(versions[0])  # warm-up: imports and Streamlit's own first-time costs, not measured
        renders: list[list[dict[str, float]]] = [[] for _ in versions]
        for index in range(rounds):
            order = list(range(len(versions)))
            for k in order if index % 2 == 0 else reversed(order):
                renders[k].append(render_once(versions[k]))
            loads.append(os.getloadavg()[0])
        print("measured; removing the temporary workspace", flush=True)
    keys = [k for k, _ in FIGURES] + ["tiles"]
    return {
        "versions": [
            {k: v for k, v in ver.items() if k not in ("issues", "summary")} | {"issue_count": len(ver["issues"])}
            for ver in versions
        ],
        "rounds": rounds,
        "render": [{k: statistics.median(r[k] for r in rs) for k in keys} for rs in renders],
        "loads": loads,
    }


def validate_s(r: dict[str, Any], v: dict[str, Any]) -> float:
    """Validation seconds of a version: measured on the smallest, scaled by image count for the others."""
    base = r["versions"][0]
    return v["validate_s"] if v.get("validate_s") is not None else base["validate_s"] * v["images"] / base["images"]


def import_s(r: dict[str, Any], v: dict[str, Any]) -> float:
    """What importing a version costs: prepare + validation (DVC freezing left out, so this understates it)."""
    return v["prepare_s"] + validate_s(r, v)


def verdicts(r: dict[str, Any]) -> tuple[bool, list[str]]:
    """Whether the goal holds at the largest size, and the figures that miss it."""
    small, big = r["render"][0], r["render"][-1]
    misses = [
        f"{label.strip('*')} {big[key]:.2f} s ({big[key] / small[key]:.1f}×)"
        for key, label in FIGURES
        if big[key] > 1.0 or big[key] > 3 * small[key]
    ]
    misses += [
        f"index {v['index_s'] / import_s(r, v):.0%} of the import at {v['images']:,}"
        for v in r["versions"]
        if v["index_s"] > 0.10 * import_s(r, v)
    ]
    return not misses, misses


def report(r: dict[str, Any]) -> str:
    """The BENCHMARKS.md section."""
    versions, renders = r["versions"], r["render"]
    small = renders[0]
    sizes = " / ".join(f"{v['images']:,}" for v in versions)
    rows = []
    for key, label in FIGURES:
        cells = [f"{rr[key]:.2f} s" for rr in renders]
        ratios = [f"{rr[key] / small[key]:.1f}×" for rr in renders[1:]]
        rows.append((label, *cells, *ratios))
    rows.append(
        (
            "validation (measured on the smallest; scaled by images above it)",
            *(f"{validate_s(r, v):.1f} s" for v in versions),
            *("" for _ in versions[1:]),
        )
    )
    rows.append(
        (
            "**index build** (share of the import: prepare + validation)",
            *(f"{v['index_s']:.1f} s ({v['index_s'] / import_s(r, v):.1%})" for v in versions),
            *("" for _ in versions[1:]),
        )
    )
    rows.append(
        (
            "index build (share of `prepare` alone)",
            *(f"{v['index_s']:.1f} s ({v['index_s'] / v['prepare_s']:.0%})" for v in versions),
            *("" for _ in versions[1:]),
        )
    )
    rows.append(
        ("`prepare` (COCO → YOLO)", *(f"{v['prepare_s']:.1f} s" for v in versions), *("" for _ in versions[1:]))
    )
    header = (
        "",
        *(f"{v['images']:,} images ({v['boxes']:,} boxes, {v['issue_count']:,} issues)" for v in versions),
        *(f"{v['images']:,} / {versions[0]['images']:,}" for v in versions[1:]),
    )
    met, misses = verdicts(r)
    big = versions[-1]["images"]
    goal = (
        f"Goal at {big:,} images: every figure ≤ 1.0 s and ≤ 3× the {versions[0]['images']:,}-image one, and the "
        f"index ≤ 10 % of the import: **{'met' if met else 'NOT met'}**"
        + (f" ({'; '.join(misses)})" if misses else "")
        + "."
    )
    return (
        "## Datasets page (`bench/datasets_page.py`)\n\n"
        f"The Datasets page (AppTest, `Home.py` → `{PAGE}`, version picked, `st.cache_data` cleared) on versions of "
        f"{sizes} images, prepared from hard links to 200 distinct demo pictures and indexed into the store as an "
        "import does. The smallest was validated (the duplicate issues the hard links cause left out); the larger "
        "ones carry the same issues per picture, copied. Every figure is read from the index: filters and pages "
        f"are SQL queries, charts come from the index summary. Medians of {r['rounds']} alternating rounds, each a "
        "fresh AppTest session after one unmeasured warm-up. The index's share of the import counts `prepare` and "
        "validation (measured on the smallest version, scaled by image count above it) and leaves out DVC freezing, "
        "so it overstates the share; its share of `prepare` alone is shown too. "
        f"{goal}\n\n"
        + table(rows, header)
        + f"\n\nGallery tiles on the turned page: {' / '.join(str(int(rr['tiles'])) for rr in renders)}. Load "
        "while measuring: "
        + ", ".join(f"{x:.2f}" for x in r["loads"])
        + f" (1-min load average, at the start, after building and after each round) on {os.cpu_count()} shared cores."
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, write its BENCHMARKS.md section and print one summary line."""
    parser = argparse.ArgumentParser(prog="python -m bench.datasets_page", description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="1000,10000,100000", help="Images per version, comma-separated (default 1000,10000,100000)."
    )
    parser.add_argument("--rounds", type=int, default=3, help="Alternating rounds (default 3).")
    parser.add_argument("--save", type=Path, help="Also write the raw figures to this JSON file.")
    parser.add_argument("--load", type=Path, help="Write the report from a saved JSON file instead of measuring.")
    args = parser.parse_args(argv)
    sizes = sorted(int(x) for x in args.sizes.split(",") if x.strip())
    if args.load:
        result = json.loads(args.load.read_text(encoding="utf-8"))
        sizes = [v["images"] for v in result["versions"]]
    else:
        result = bench(sizes=sizes, rounds=args.rounds)
    if args.save:
        args.save.write_text(json.dumps(result, indent=1), encoding="utf-8")
    path = write_section("datasets_page", report(result))
    met, misses = verdicts(result)
    small, big = result["render"][0], result["render"][-1]
    print(
        f"datasets page at {sizes[-1]:,} vs {sizes[0]:,} images: "
        + ", ".join(f"{k} {big[k]:.2f} s ({big[k] / small[k]:.1f}×)" for k, _ in FIGURES)
        + f"; goal (≤ 1.0 s and ≤ 3× at {sizes[-1]:,}, index ≤ 10 %) "
        + ("met" if met else "NOT met: " + "; ".join(misses))
        + f"; written to {path.name}; {load_line()}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
