"""The README pictures, made on purpose (tests never write them): a fresh workspace holding the demo food set and a
model trained on it through the console's job runner, then the real console in headless Chromium.

Writes screenshot_{home,datasets,train,models,annotate,detect}.png to `--out`.
The Detect picture shows that trained model on a demo photo it never saw in training.

Run: python -m bench.screenshots [--out docs] [--images 400] [--preset quick_cpu] [--workspace DIR]
     (about 10 minutes on 2 CPU cores, nearly all of it training; Chromium at /usr/bin/chromium or $PLATEOPS_CHROMIUM;
     a --workspace that already holds a finished run is reused, so retaking the pictures skips training)
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

from backend.core.access import SHELL_ADMIN

ROOT = Path(__file__).resolve().parent.parent
TALL = 2300  # px; Streamlit scrolls inside its own container, so a tall window shows more of a page
ALL_IMAGES_LOADED = (
    "() => [...document.querySelectorAll(\"[data-testid='stImage'] img\")].every(i => i.complete && i.naturalWidth)"
)


def _fresh_settings(home: Path) -> None:
    os.environ.update({"PLATEOPS_HOME": str(home), "PLATEOPS_CLEARML_MODE": "offline", "PLATEOPS_AUTO_DEMO": "false"})
    os.environ.pop("PLATEOPS_DATABASE_URL", None)
    from backend.core.settings import get_settings
    from backend.store.engine import dispose_all

    get_settings.cache_clear()
    dispose_all()


def build_workspace(home: Path, *, images: int, preset: str) -> tuple[str, Path]:
    """The demo set (with its planted defects) and a finished training run on it; returns its name and weights."""
    _fresh_settings(home)
    from backend.console.bootstrap import start_console
    from backend.data.datasets import create_demo_dataset, list_versions_with_datasets
    from backend.runtime import runner
    from backend.training.service import build_config, list_runs, run_for_job
    from backend.training.tasks import start_training

    start_console()
    finished = [r for r in list_runs(20) if r.status == "succeeded" and r.weights_path]
    if finished:
        print(f"Reusing run {finished[0].name} in {home}", flush=True)
        return finished[0].name, Path(str(finished[0].weights_path))
    made = list_versions_with_datasets()  # a reused workspace may hold the demo set already
    version = made[0][1] if made else create_demo_dataset(images=images, seed=0, defects=True)
    print(f"Demo set {version.label}: {version.counts.images} images; training ({preset})…", flush=True)
    job_id = start_training(
        version.id, build_config(preset), preset=preset, allow_errors=True, name=f"demo-{preset}", actor=SHELL_ADMIN
    )
    job = runner.wait_for(job_id, timeout_s=7200, poll_s=2.0)
    run = run_for_job(job_id)
    if job.status != "succeeded" or run is None or not run.weights_path:
        raise SystemExit(f"Training did not succeed ({job.status}): {job.error}")
    print(f"Run {run.name}: mAP50 {run.scores.map50 or 0:.3f}", flush=True)
    return run.name, Path(run.weights_path)


def unseen_photo(folder: Path, weights: Path) -> Path:
    """A demo photo from another seed (so the model never trained on it): of a dozen, the one where the model finds
    the most foods at the Detect page's default confidence (0.25)."""
    from backend.data.demo import generate_demo_dataset
    from backend.imaging.loading import load_image
    from backend.serving.inference import Detector

    generate_demo_dataset(folder, images=12, seed=101, workers=1)
    detector = Detector.load(weights)

    def found(photo: Path) -> int:
        return len(detector.predict([load_image(photo).image], conf=0.25)[0].detections)

    return max(sorted(folder.rglob("*.jpg")), key=found)


def _open(page: Any, url: str) -> None:
    from tests.e2e.conftest import wait_idle

    page.set_viewport_size({"width": 1400, "height": 1000})
    page.goto(url)
    wait_idle(page)


def _shoot(page: Any, path: Path, *, full_page: bool = False) -> None:
    from tests.e2e.conftest import wait_idle

    page.wait_for_function(ALL_IMAGES_LOADED)
    wait_idle(page)
    # Error boxes are content here (the demo set's planted defects); an exception is not.
    if page.locator("[data-testid='stException']").count() or "Traceback" in page.inner_text("body"):
        raise SystemExit(f"{path.name}: the page shows an exception")
    page.screenshot(path=str(path), full_page=full_page)
    print(f"wrote {path}", flush=True)


def take_screenshots(url: str, out: Path, photo: Path, run_name: str) -> None:
    """Home, Datasets (gallery, one image open), Train (the finished run), Models, Annotate, Detect (unseen photo)."""
    from playwright.sync_api import sync_playwright

    from tests.e2e.conftest import CHROMIUM, CHROMIUM_ARGS, wait_idle

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
        page.set_default_timeout(120_000)

        _open(page, url)
        page.get_by_text(run_name).first.wait_for()
        page.get_by_text("· succeeded").first.wait_for()  # the live jobs panel has rendered
        _shoot(page, out / "screenshot_home.png", full_page=True)

        page.locator("[data-testid='stSidebarNav']").get_by_role("link", name="Datasets").click()
        page.wait_for_url("**/datasets")
        wait_idle(page)
        page.get_by_role("tab", name="Gallery").click()
        wait_idle(page)
        page.locator("[data-testid='stImage'] img").nth(11).wait_for()  # the first page of tiles
        page.locator("[class*='st-key-ds_open_'] button").first.click()
        wait_idle(page)
        page.get_by_text("Boxes (").first.wait_for()
        page.locator("[data-testid='stDataFrame']").first.wait_for()  # the opened image's box table
        page.locator("[data-testid='stImage'] img").nth(12).wait_for()  # its large picture above the 12 tiles
        page.set_viewport_size({"width": 1400, "height": TALL})
        _shoot(page, out / "screenshot_datasets.png")

        page.set_viewport_size({"width": 1400, "height": 1000})
        page.locator("[data-testid='stSidebarNav']").get_by_role("link", name="Train").click()
        page.wait_for_url("**/train")
        wait_idle(page)
        page.get_by_text("Scored on the validation images").first.wait_for()
        page.locator("[data-testid='stVegaLiteChart']").nth(2).wait_for()  # losses, scores, AP per class
        page.wait_for_timeout(1500)  # vega draws its canvases after the elements exist; nothing to poll for
        page.set_viewport_size({"width": 1400, "height": 3000})
        _shoot(page, out / "screenshot_train.png", full_page=True)

        _open(page, f"{url}/models")
        page.get_by_text("No model is in production yet").first.wait_for()
        page.wait_for_timeout(1500)  # charts draw their canvases after the elements exist
        page.set_viewport_size({"width": 1400, "height": TALL})
        _shoot(page, out / "screenshot_models.png", full_page=True)

        _open(page, url)
        page.locator("[data-testid='stSidebarNav']").get_by_role("link", name="Annotate").click()
        page.wait_for_url("**/annotate")
        wait_idle(page)
        page.locator("canvas.upper-canvas").first.wait_for()  # the box editor has mounted
        page.set_viewport_size({"width": 1400, "height": 1700})  # the whole picture under the controls
        page.wait_for_timeout(1500)  # the editor draws the picture with its boxes after it mounts
        _shoot(page, out / "screenshot_annotate.png")

        _open(page, f"{url}/?role=user")
        page.get_by_text(f"newest run {run_name}").first.wait_for()
        page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(photo))
        page.get_by_text("Detection took").first.wait_for()
        wait_idle(page)
        page.locator("[data-testid='stDataFrame']").first.wait_for()  # the items table
        page.get_by_role("heading", name="What can I cook?").wait_for()
        # recipe cards (h4 titles), or the note saying why none fits
        page.locator("h4, [data-testid='stAlert']").first.wait_for()
        page.set_viewport_size({"width": 1400, "height": TALL})
        _shoot(page, out / "screenshot_detect.png", full_page=True)
        browser.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "docs", help="folder for the pictures (default: docs/)")
    parser.add_argument("--images", type=int, default=400, help="demo set size (default: 400)")
    parser.add_argument("--preset", default="quick_cpu", help="training preset from params.yaml (default: quick_cpu)")
    parser.add_argument("--workspace", type=Path, help="workspace folder to build or reuse (default: a temporary one)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.e2e.conftest import start_console, stop_console

    tmp = Path(tempfile.mkdtemp(prefix="plateops-screenshots-"))
    try:
        home = (args.workspace or tmp / "workspace").resolve()
        run_name, weights = build_workspace(home, images=args.images, preset=args.preset)
        photo = unseen_photo(tmp / "unseen", weights)
        args.out.mkdir(parents=True, exist_ok=True)
        proc, console = start_console(home, {"PLATEOPS_AUTO_DEMO": "false", "PLATEOPS_CLEARML_MODE": "offline"})
        try:
            take_screenshots(console.url, args.out, photo, run_name)
        finally:
            stop_console(proc)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
