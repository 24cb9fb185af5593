"""Datasets page benchmark: first render (AppTest) of a 10,000-image version over the same render of a 100-image one.

Both versions are built the same way in one temporary workspace: a COCO file whose image entries are hard links
to real demo images (a pool of 200 distinct ones; the 100-image version uses 100 distinct ones), converted with
`prepare_coco` into the version folder, recorded in the store and validated with `validate_dataset`. The
`exact_duplicate` / `near_duplicate` issues that the hard links themselves cause are left out of the stored
validation (a real 10,000-image set would not be 98 % duplicates), so both versions carry the demo's own issue
density. A third version on the same big folder keeps every issue validation found (one on nearly every image):
the worst case for the Quality tab and for `gallery()`'s issue merge. DVC freezing is skipped: the page does not
read DVC.

Each measurement is a fresh `AppTest.from_file("Home.py")`: run Home, clear `st.cache_data`, switch to
`pages/datasets.py` with the version picked, and time `run()` (the first render, Overview tab, nothing cached);
then a cached rerun and the first opening of the Quality and Gallery tabs in the same session. Rounds alternate
the order of the versions; medians are reported. The backend reads behind the page are timed directly as well, to
show where the time goes. Goal: first render 10k / 100 well under 100 (it must not grow linearly with image count).

Run: python -m bench.datasets_page [--images 10000] [--small 100] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import time
from collections import Counter
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


def _record(
    *, name: str, folder: Path, counts: dict[str, Any], summary: dict[str, Any], issues: list[dict[str, str]]
) -> int:
    """Record a dataset with one version at `folder` and its stored validation; returns the version id."""
    from backend.store import datasets as dataset_store
    from backend.store.engine import session_scope

    by_sev = {s: sum(1 for i in issues if i["severity"] == s) for s in ("error", "warning", "info")}
    summary = {
        **summary,
        "issues_by_check": dict(sorted(Counter(i["check"] for i in issues).items())),
        "issues_by_severity": by_sev,
    }
    status = "errors" if by_sev["error"] else "warnings" if by_sev["warning"] else "passed"
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
        dataset_store.set_validation(
            session=session, version_id=version.id, status=status, summary=summary, issues=issues
        )
        return version.id


def make_version(root: Path, *, name: str, images: int) -> dict[str, Any]:
    """Build, record and validate one version; returns its id, what building it cost, and the full issue list."""
    from backend.core.settings import get_settings
    from backend.data.prepare import prepare_coco
    from backend.data.quality import validate_dataset

    settings = get_settings()
    started = time.perf_counter()
    coco = build_coco(root / f"src-{name}", images=images, pool=min(images, POOL))
    folder = settings.datasets_dir / name / "v1"
    result = prepare_coco(coco, coco.parent / "images", folder, seed=0)
    prepared_s = time.perf_counter() - started
    started = time.perf_counter()
    report = validate_dataset(folder, cache_dir=settings.cache_dir)
    validate_s = time.perf_counter() - started
    every = [i.to_dict() for i in report.issues]
    issues = [i for i in every if i["check"] not in ARTEFACT_CHECKS]
    version_id = _record(name=name, folder=folder, counts=result.counts, summary=report.summary, issues=issues)
    shutil.rmtree(coco.parent / "images")  # the version folder holds its own links
    return {
        "id": version_id,
        "name": name,
        "folder": folder,
        "counts": result.counts,
        "summary": report.summary,
        "all_issues": every,
        "images": result.counts["images"],
        "boxes": result.counts["boxes"],
        "issues": len(issues),
        "dropped": len(every) - len(issues),
        "prepare_s": prepared_s,
        "validate_s": validate_s,
    }


def _run(at: Any) -> float:
    start = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - start
    if at.exception:
        raise RuntimeError(f"the page raised: {[e.value for e in at.exception]}")
    return seconds


def render_once(version: dict[str, Any]) -> dict[str, float]:
    """One fresh AppTest session: Home, then the Datasets page's first render, then its Quality and Gallery tabs."""
    import streamlit as st
    from streamlit.testing.v1 import AppTest

    from ui.datasets.versions import TABS

    st.cache_data.clear()
    at = AppTest.from_file(str(PROJECT_ROOT / "Home.py"), default_timeout=600)
    home_s = _run(at)
    at.session_state["ds_pick_dataset"] = version["name"]
    at.session_state["ds_pick_version"] = version["id"]
    st.cache_data.clear()  # nothing the Home run read is reused: a cold first render
    at.switch_page(PAGE)
    first_s = _run(at)
    shown = {m.label: m.value for m in at.metric}
    if str(shown.get("Images", "")).replace(",", "") != str(version["images"]):
        raise RuntimeError(f"the page shows {shown.get('Images')!r} images, expected {version['images']}")
    again_s = _run(at)
    at.session_state["ds_tab"] = TABS[1]
    quality_s = _run(at)
    if not any(marker in str(m.value) for m in at.markdown for marker in QUALITY_MARKERS):
        raise RuntimeError("the Quality tab did not show its verdict")
    at.session_state["ds_tab"] = TABS[2]
    gallery_s = _run(at)
    tiles = len(at.image)
    return {
        "home": home_s,
        "first": first_s,
        "again": again_s,
        "quality": quality_s,
        "gallery": gallery_s,
        "tiles": tiles,
    }


def time_backend(version: dict[str, Any]) -> dict[str, float]:
    """The backend reads the page's first render makes, timed directly, and what a `st.cache_data` hit costs."""
    import pickle

    from backend.data.datasets import gallery, prepare_report, version_image_sizes

    out = {}
    for key, fn in (("gallery", gallery), ("sizes", version_image_sizes), ("report", prepare_report)):
        start = time.perf_counter()
        value = fn(version["id"])
        out[key] = time.perf_counter() - start
        if key == "gallery":
            # st.cache_data keeps a pickle and unpickles it on every hit: what each rerun pays for `_gallery`.
            data = pickle.dumps(value)
            start = time.perf_counter()
            pickle.loads(data)  # our own bytes, made one line above
            out["unpickle"] = time.perf_counter() - start
            out["pickle_mb"] = len(data) / 1e6
    return out


VARIANTS = ("small", "big", "heavy")
DIRECT_FIELDS = ("gallery", "sizes", "report", "unpickle", "pickle_mb")


def bench(*, images: int, small: int, rounds: int) -> dict[str, Any]:
    """Build the versions, then alternate their renders; returns the figures."""
    from backend.console.bootstrap import start_console

    loads = [os.getloadavg()[0]]
    with temp_workspace("plateops-bench-datasets-page-") as root:
        os.environ.setdefault("PLATEOPS_CLEARML_MODE", "offline")
        start_console()
        big = make_version(root, name="bench-big", images=images)
        versions = {"small": make_version(root, name="bench-small", images=small), "big": big}
        # The same folder again, this time with every issue validation found stored: an issue on almost every image.
        heavy_id = _record(
            name="bench-heavy",
            folder=big["folder"],
            counts=big["counts"],
            summary=big["summary"],
            issues=big["all_issues"],
        )
        versions["heavy"] = {**big, "id": heavy_id, "name": "bench-heavy", "issues": len(big["all_issues"])}
        loads.append(os.getloadavg()[0])
        render_once(versions["small"])  # warm-up: imports and Streamlit's own first-time costs, not measured
        renders: dict[str, list[dict[str, float]]] = {key: [] for key in VARIANTS}
        direct: dict[str, list[dict[str, float]]] = {key: [] for key in VARIANTS}
        for index in range(rounds):
            for key in VARIANTS if index % 2 == 0 else tuple(reversed(VARIANTS)):
                renders[key].append(render_once(versions[key]))
                direct[key].append(time_backend(versions[key]))
            loads.append(os.getloadavg()[0])

    fields = ("home", "first", "again", "quality", "gallery", "tiles")
    return {
        "versions": versions,
        "rounds": rounds,
        "render": {k: {f: statistics.median(r[f] for r in renders[k]) for f in fields} for k in VARIANTS},
        "direct": {k: {f: statistics.median(r[f] for r in direct[k]) for f in DIRECT_FIELDS} for k in VARIANTS},
        "per_round": [b["first"] / s["first"] for s, b in zip(renders["small"], renders["big"], strict=True)],
        "loads": loads,
    }


def report(r: dict[str, Any]) -> str:
    """The BENCHMARKS.md section."""
    small, big, heavy = (r["versions"][k] for k in VARIANTS)
    rs, rb, rh = (r["render"][k] for k in VARIANTS)
    ds, db, dh = (r["direct"][k] for k in VARIANTS)
    scale = big["images"] / small["images"]
    ratio = rb["first"] / rs["first"]
    rows = []
    for label, key in (
        ("**first render** (Overview tab, nothing cached)", "first"),
        ("rerun (cached)", "again"),
        ("Quality tab, first opening", "quality"),
        ("Gallery tab, first opening", "gallery"),
    ):
        bold = "**" if key == "first" else ""
        rows.append(
            (
                label,
                f"{rs[key]:.2f} s",
                f"{rb[key]:.2f} s",
                f"{bold}{rb[key] / rs[key]:.1f}{bold}",
                f"{rh[key]:.2f} s",
                f"{rh[key] / rs[key]:.1f}",
            )
        )
    for label, key in (
        ("of which `gallery()` (lists the folder, reads every label file), called directly", "gallery"),
        ("of which `version_image_sizes()` (lists the folder, ≤ 3,000 image headers), called directly", "sizes"),
        ("of which `prepare_report()` (the pre-flight JSON), called directly", "report"),
        ("a `st.cache_data` hit on `_gallery` (unpickling its list; every rerun pays it)", "unpickle"),
    ):
        rows.append(
            (
                label,
                f"{ds[key]:.3f} s",
                f"{db[key]:.3f} s",
                f"{db[key] / max(ds[key], 1e-9):.1f}",
                f"{dh[key]:.3f} s",
                f"{dh[key] / max(ds[key], 1e-9):.1f}",
            )
        )
    verdict = "met" if ratio < scale / 4 else "NOT met"
    header = (
        "",
        f"{small['images']:,} images ({small['issues']} issues)",
        f"{big['images']:,} images ({big['issues']} issues)",
        f"{big['images']:,} / {small['images']:,}",
        f"{heavy['images']:,} images ({heavy['issues']:,} issues)",
        f"heavy / {small['images']:,}",
    )
    return (
        "## Datasets page (`bench/datasets_page.py`)\n\n"
        f"First render of the Datasets page (AppTest, `Home.py` → `{PAGE}`, version picked, `st.cache_data` "
        f"cleared) on a {big['images']:,}-image version ({big['boxes']:,} boxes) against a {small['images']:,}-image "
        f"one ({small['boxes']:,} boxes): {scale:.0f}× the images. Both were prepared from hard links to distinct demo "
        "images and validated; the duplicate issues the hard links cause were left out of their stored validation, "
        f"so both carry the demo's own (low) issue density. A third version on the same {big['images']:,}-image folder "
        f"keeps all {heavy['issues']:,} issues (an issue on nearly every image): the worst case for the Quality tab. "
        f"Medians of {r['rounds']} alternating rounds, each a fresh AppTest session after one unmeasured warm-up. "
        f"Goal: first render 10k / 100 well under 100× (no linear growth): **{ratio:.1f}×** ({verdict}).\n\n"
        + table(rows, header)
        + "\n\nPer-round first-render ratios (10k / 100): "
        + ", ".join(f"{x:.1f}" for x in r["per_round"])
        + f". The cached gallery list is {ds['pickle_mb']:.2f} / {db['pickle_mb']:.1f} / {dh['pickle_mb']:.1f} MB "
        f"pickled. Gallery tiles shown: {int(rs['tiles'])} / {int(rb['tiles'])} / {int(rh['tiles'])} (paginated). "
        "Home page "
        f"run before the switch (not in the figures): {rs['home']:.2f} s / {rb['home']:.2f} s / {rh['home']:.2f} s. "
        f"Building the big version: prepare {big['prepare_s']:.1f} s, validation {big['validate_s']:.1f} s. Load "
        "while measuring: "
        + ", ".join(f"{x:.2f}" for x in r["loads"])
        + f" (1-min load average, at the start, after building and after each round) on {os.cpu_count()} shared cores."
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark, write its BENCHMARKS.md section and print one summary line."""
    parser = argparse.ArgumentParser(prog="python -m bench.datasets_page", description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10000, help="Images in the big version (default 10000).")
    parser.add_argument("--small", type=int, default=100, help="Images in the small version (default 100).")
    parser.add_argument("--rounds", type=int, default=3, help="Alternating rounds (default 3).")
    args = parser.parse_args(argv)
    result = bench(images=args.images, small=args.small, rounds=args.rounds)
    path = write_section("datasets_page", report(result))
    rs, rb = result["render"]["small"], result["render"]["big"]
    print(
        f"datasets page: first render {rb['first']:.2f} s at {args.images:,} images vs {rs['first']:.2f} s at "
        f"{args.small:,} → {rb['first'] / rs['first']:.1f}×; written to {path.name}; {load_line()}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
