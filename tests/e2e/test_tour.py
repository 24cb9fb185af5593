"""Browser: a newcomer's first start and the whole loop in Chromium on a fresh workspace, through the pages as a
person would, with every request the pages make recorded: none may leave this machine (not a font, not an icon, not
a tab icon).

Demo data (40 images, made on first start; Home follows the job without a reload) → validate → Quick training
(shrunk to 1 epoch at 64 px; the estimate says what it rests on) → "Try it on Detect": detect an upload, see recipes,
the feedback menus start empty, give feedback → compare and promote on Models → simulate dark traffic on Monitor →
build the drift report → send the drifted pictures to the review queue → label one in Annotate's traffic inbox from
the serving model's boxes, add the lemon it missed → add it to the dataset as a new version → validate and retrain
from the inbox → the gate refuses a useless candidate (tests/e2e/tour_gate.py) → every page, and the
end user's view of a console page. A screenshot is saved at each step
into a temporary folder; with PLATEOPS_TOUR_SCREENSHOTS=DIR they are also copied there as screenshot_<step>.png, the
names the README shows (`PLATEOPS_TOUR_SCREENSHOTS=docs` retakes the README pictures from the tour; a plain test run
changes no tracked file).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page

from backend.core.settings import get_settings
from backend.store.engine import dispose_all
from tests.e2e.canvas import draw_lemon_box
from tests.e2e.conftest import (
    PROJECT_ROOT,
    Console,
    error_texts,
    start_console,
    stop_console,
    wait_idle,
    wait_settled,
)
from tests.e2e.tour_gate import step_gate_refuses_useless_candidate

pytestmark = pytest.mark.e2e
TOUR_ENV = "PLATEOPS_TOUR_SCREENSHOTS"
PAGES = ["", "datasets", "annotate", "train", "jobs", "models", "detect", "monitor"]
DEMO_IMAGES = 40  # the demo set the first start makes: small, so the walk stays quick


def tiny_params(path: Path) -> Path:
    """params.yaml with the Quick preset shrunk to one epoch at 64 px, so the walk trains for real in seconds."""
    text = (PROJECT_ROOT / "params.yaml").read_text()
    quick = text.index("  quick_cpu:")
    head, tail = text[:quick], text[quick:]
    tail = tail.replace("      epochs: 10 #", "      epochs: 1 #", 1).replace(
        "      imgsz: 256 #", "      imgsz: 64 #", 1
    )
    assert "epochs: 1 #" in tail and "imgsz: 64 #" in tail, "the Quick preset's lines changed: update this test"
    path.write_text(head + tail)
    return path


def first_start_env(root: Path) -> dict[str, str]:
    """The tour's first-start environment: a demo set of DEMO_IMAGES pictures, and `root/params.yaml` with the Quick
    preset shrunk by `tiny_params` (also used by `bench/newcomer.py`)."""
    return {"PLATEOPS_DEMO_IMAGES": str(DEMO_IMAGES), "PLATEOPS_PARAMS_FILE": str(tiny_params(root / "params.yaml"))}


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """A console on an empty workspace: its first start makes the small demo dataset."""
    root = tmp_path_factory.mktemp("tour")
    proc, info = start_console(root / "workspace", first_start_env(root))
    yield info
    stop_console(proc)


def _store(home: Path, read: Any) -> Any:
    """Read the console's store from the test process (its own settings, restored afterwards)."""
    from backend.store.engine import session_scope

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLATEOPS_HOME", str(home))
        mp.delenv("PLATEOPS_DATABASE_URL", raising=False)
        get_settings.cache_clear()
        dispose_all()
        try:
            with session_scope() as session:
                return read(session)
        finally:
            dispose_all()
            get_settings.cache_clear()


def _jobs(home: Path, kind: str) -> list[Any]:
    from backend.store import jobs as job_store

    return _store(home, lambda session: job_store.list_jobs(session=session, kind=kind, limit=50))


def _wait_jobs_done(home: Path, kind: str, count: int, timeout_s: float = 300) -> list[Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        jobs = _jobs(home, kind)
        if len(jobs) >= count and not any(job.active for job in jobs):
            assert all(job.status == "succeeded" for job in jobs), [(job.id, job.error) for job in jobs]
            return jobs
        assert time.monotonic() < deadline, f"{kind} jobs never finished: {[(j.id, j.status) for j in jobs]}"
        time.sleep(1)


class Camera:
    """Screenshots at each step: a temporary folder always, and the folder named by PLATEOPS_TOUR_SCREENSHOTS."""

    def __init__(self, page: Page, folder: Path) -> None:
        self.page, self.folder, self.step = page, folder, 0
        target = os.environ.get(TOUR_ENV)
        self.publish = (PROJECT_ROOT / target) if target and not Path(target).is_absolute() else target
        if self.publish:
            Path(self.publish).mkdir(parents=True, exist_ok=True)

    def __call__(self, name: str) -> None:
        self.step += 1
        wait_idle(self.page)
        path = self.folder / f"tour_{self.step:02d}_{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        if self.publish:
            shutil.copyfile(path, Path(self.publish) / f"screenshot_{name}.png")
        assert error_texts(self.page) == [], f"step {name}: {error_texts(self.page)}"


def _nav(page: Page, name: str) -> None:
    page.locator("[data-testid='stSidebarNav'] a", has_text=name).first.click()
    page.locator("h1", has_text=name).first.wait_for()
    wait_idle(page)


def test_the_tour(console: Console, watched: tuple[Page, list[str]], screenshots: Path) -> None:
    """The first start and the whole loop, with every request the pages make recorded: none may leave this machine."""
    page, outside = watched
    try:
        shot = Camera(page, screenshots)
        _first_start(console, page, shot)
        _tour(console, page, shot)
        _every_page_stays_local(console, page)
    except BaseException:
        page.screenshot(path=str(screenshots / "tour_failed.png"), full_page=True)  # where it stopped
        raise
    assert outside == [], f"requests left this machine: {outside}"


def step_home(console: Console, page: Page) -> None:
    """1. Home on the very first start: the demo job runs, and Home shows the dataset when it ends — no reload."""
    page.goto(console.url)
    wait_idle(page)
    page.get_by_text("Your food detector, from data to drift").wait_for()
    page.get_by_text("Next: train a model on it").wait_for(timeout=240_000)  # the card, after the job's end
    tiles = page.locator("[data-testid='stMetric']").first.inner_text()
    assert "1" in tiles, tiles  # the Datasets tile counts the new dataset


def step_validate(page: Page) -> None:
    """2. Validate on Datasets, from Home's card."""
    page.get_by_role("link", name="Go to Datasets").click()
    page.locator("h1", has_text="Datasets").wait_for()
    page.get_by_role("tab", name="Quality").click()
    page.get_by_role("button", name="Validate again").click()
    page.get_by_text("Validate v1").first.wait_for()
    page.get_by_text("Finished").first.wait_for(timeout=120_000)


def step_train(page: Page) -> None:
    """3. Quick training (shrunk by `tiny_params`): the estimate says what it rests on; the run ends with a way to
    try it."""
    _nav(page, "Train")
    page.get_by_text("Estimated time: about").wait_for(timeout=120_000)
    wait_idle(page)  # the caption under it is drawn (and the spinner "Timing one training step…" gone)
    assert "on this machine" in page.inner_text("body")
    page.get_by_role("button", name="Start training").click()
    page.get_by_role("link", name="Try it on Detect").wait_for(timeout=400_000)


def step_try_on_detect(console: Console, page: Page) -> None:
    """4. "Try it on Detect" with a photo of the demo set: the detections and the recipes are shown."""
    page.get_by_role("link", name="Try it on Detect").click()
    page.locator("h1", has_text="Detect").wait_for()
    wait_idle(page)
    photo = next((console.home / "datasets").rglob("*.jpg"))
    page.locator("[data-testid='stFileUploader'] input[type='file']").set_input_files(str(photo))
    page.get_by_text("Detected:").first.wait_for(timeout=120_000)
    page.get_by_text("What can I cook?").first.wait_for()
    wait_idle(page)


def _first_start(console: Console, page: Page, shot: Camera) -> None:
    """A newcomer's first start: demo data → validate → Quick training → "Try it on Detect" → feedback."""
    step_home(console, page)
    shot("home")
    step_validate(page)
    shot("datasets")
    step_train(page)
    shot("train")
    # The page is tall enough to show the whole feedback form without scrolling: a select's menu closes on any scroll.
    page.set_viewport_size({"width": 1400, "height": 3000})
    step_try_on_detect(console, page)

    # 5. Feedback: no answer is chosen for the user (the missed-item menu starts empty, so its button waits); then
    # one item is chosen and reported. Each step waits for the page's own state and acts once.
    page.get_by_text("Is this right? Tell us").first.click()
    page.locator("[class*='st-key-fb_missed_pick_'] input[placeholder='Choose the missed item']").wait_for()
    assert page.get_by_role("button", name="Report missed item").is_disabled(), "no item is chosen for the user"
    wait_settled(page)  # the expander has finished opening: nothing scrolls under the menu
    assert error_texts(page) == []
    picker = page.locator("[data-testid='stSelectbox']").filter(has_text="An item the detector missed").first
    picker.locator("input").click()
    page.locator("[role='option'] >> visible=true").first.click(timeout=120_000)
    wait_idle(page)
    page.get_by_role("button", name="Report missed item").click()
    page.get_by_text("Thanks! You told us the detector missed").wait_for()
    shot("detect")
    page.set_viewport_size({"width": 1400, "height": 1000})


def _tour(console: Console, page: Page, shot: Camera) -> None:
    """The loop after the first start: promote → drift → review → fix a box → validate and retrain."""
    home = console.home
    # 6. Compare and promote on Models.
    _nav(page, "Models")
    page.get_by_label("Reason").fill("first model of the tour")
    page.get_by_role("button", name="Run the gate and promote").click()
    page.get_by_text("In production:", exact=False).first.wait_for(timeout=240_000)
    shot("models")

    # 7. Simulate dark traffic on Monitor; 8. build the drift report.
    _nav(page, "Monitor")
    wait_settled(page)
    page.locator("[data-testid='stSelectbox']").filter(has_text="Shift").first.locator("input").click()
    page.get_by_role("option", name=re.compile(r"^dark")).click()
    page.get_by_label("Pictures").fill("40")
    page.get_by_role("button", name="Send traffic").click()
    _wait_jobs_done(home, "simulate_traffic", 1)
    _wait_jobs_done(home, "drift_report", 0)  # an automatic report may follow the traffic
    page.reload()
    wait_idle(page)
    page.get_by_label("Latest predictions to compare").fill("40")
    page.keyboard.press("Tab")
    wait_idle(page)
    page.get_by_role("button", name="Build a drift report now").click()
    wait_idle(page)
    time.sleep(1)
    _wait_jobs_done(home, "drift_report", 1)
    page.reload()
    wait_idle(page)
    page.get_by_text("Drift alarm").first.wait_for(timeout=60_000)
    page.frame_locator("iframe").first.frame_locator("iframe").get_by_text("Dataset Drift").first.wait_for(
        timeout=60_000
    )
    shot("monitor")

    # 9. Send the drifted pictures to the review queue: they wait in Annotate's traffic inbox.
    page.get_by_role("tab", name="Drill-down").click()
    send = page.get_by_role("button", name="to the review queue")
    send.wait_for()
    sent = int(send.inner_text().split()[1])
    send.click()
    page.get_by_text(f"Sent {sent} pictures to the review queue").first.wait_for()
    shot("review_queue")

    # 10. Label a drifted picture in the traffic inbox, starting from the serving model's boxes: add the lemon it
    # missed; 11. add the labelled picture to the dataset as a new version.
    _nav(page, "Annotate")
    wait_settled(page)
    page.locator("[data-testid='stRadio']").get_by_text("Traffic inbox").click()
    waiting = page.get_by_text(re.compile(r"· 1 of \d+")).first
    waiting.wait_for(timeout=60_000)
    assert int(waiting.inner_text().rsplit(" of ", 1)[1].split()[0]) >= sent, "every sent picture waits in the inbox"
    page.get_by_text("Monitor drill-down").first.wait_for()  # why the picture is there
    draw_lemon_box(page, inbox=True)
    page.get_by_role("button", name="Mark labelled").click()
    add = page.get_by_role("button", name=re.compile(r"^Add 1 picture to .* as a new version"))
    add.wait_for()
    wait_idle(page)
    add.click()
    page.get_by_text("Saved as v2").first.wait_for(timeout=180_000)
    shot("annotate")

    # 12. Validate and retrain on the new version, from the inbox.
    page.get_by_role("button", name="Validate and retrain like the last run").click()
    page.get_by_text("validates v2, then retrains").first.wait_for(state="attached")  # a toast may fade
    _wait_jobs_done(home, "validate_retrain", 1, timeout_s=400)
    runs = _wait_jobs_done(home, "train", 2, timeout_s=400)
    assert len(runs) == 2
    _nav(page, "Models")
    shot("retrained")

    # 13. The gate refuses a useless candidate, judged on the evaluation set rather than its own tiny split.
    step_gate_refuses_useless_candidate(page, console, shot)


def _every_page_stays_local(console: Console, page: Page) -> None:
    """Every page opens without an error, and the end user's view of a console page offers only Detect."""
    for slug in PAGES:
        page.goto(f"{console.url}/{slug}")
        wait_idle(page)
        page.locator("h1").first.wait_for()
        assert error_texts(page) == [], f"/{slug} shows an error"
    page.goto(f"{console.url}/train?role=user")
    wait_idle(page)
    page.get_by_text("This page is for the PlateOps team").wait_for()
    assert "Page not found" not in page.inner_text("body")
    page.get_by_role("link", name="Go to Detect").click()
    page.locator("h1", has_text="Detect").wait_for()
    assert "role=user" in page.url, "the role stays in the address"
    assert page.locator("[data-testid='stSidebar'] [data-testid='stSelectbox']").count() == 0, "no role switch"
    assert error_texts(page) == []
