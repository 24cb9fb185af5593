"""Browser test: on the Models page a user compares two runs and promotes one through the gate; the Detect page then
names the promoted model as the one answering."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from tests.e2e.conftest import Console, error_texts, start_console, stop_console, wait_idle
from tests.utils.homes import build_home
from tests.utils.registry_runs import add_dataset_version, add_version_run
from tests.utils.tiny_data import save_grid_detector, save_untrained_detector
from tests.utils.tiny_yolo import TINY_CLASSES as SHAPES
from tests.utils.tiny_yolo import make_tiny_yolo_dataset

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """The console over a workspace with two evaluated runs (tiny detectors on a tiny frozen split), none promoted."""
    from backend.training.evaluation import evaluate

    root = tmp_path_factory.mktemp("e2e_models")
    data_yaml = make_tiny_yolo_dataset(root / "data", train=4, val=4, size=64)
    weights = {
        # the split's own class names: the gate judges on it without a class mapping to confirm
        "shapes-a": save_untrained_detector(root / "a.pt", names=SHAPES, imgsz=64, seed=1),
        "shapes-b": save_grid_detector(root / "b.pt", names=SHAPES, imgsz=64),
    }
    evaluations = {name: evaluate(w, data_yaml, imgsz=64, device="cpu").to_dict() for name, w in weights.items()}

    def fill() -> None:
        version = add_dataset_version(Path(data_yaml).parent)
        for name, path in weights.items():
            add_version_run(path, version, name=name, evaluation=evaluations[name])

    home = build_home(root / "workspace", fill)
    proc, info = start_console(home, {"PLATEOPS_AUTO_DEMO": "false"})
    try:
        yield info
    finally:
        stop_console(proc)


def test_compare_two_runs_promote_one_and_detect_names_it(console: Console, page: Page, screenshots: Path) -> None:
    page.goto(f"{console.url}/models")
    wait_idle(page)
    page.get_by_role("heading", name="Models").first.wait_for()
    page.get_by_text("No model is in production yet").first.wait_for()

    # the two runs are compared by default: per-class AP chart, tabs and the training-curve control are there
    compare = page.locator("[data-testid='stMultiSelect']").filter(has_text="Runs to compare")
    compare.get_by_text("shapes-a").first.wait_for()
    compare.get_by_text("shapes-b").first.wait_for()
    page.get_by_role("tab", name="Per-class AP and PR curves").wait_for()
    page.locator("[data-testid='stVegaLiteChart']").first.wait_for()
    page.get_by_role("tab", name="Confusion matrices and training curves").click()
    page.get_by_text("Training curve").first.wait_for()

    # promote the newest run (the form's default candidate) through the gate
    page.get_by_label("Reason").fill("better boxes on the frozen split")
    page.get_by_role("button", name="Run the gate and promote").click()
    page.get_by_text("In production: shapes-b", exact=False).first.wait_for(timeout=180_000)
    wait_idle(page)
    page.get_by_text("The gate passed").first.wait_for()
    assert not error_texts(page), error_texts(page)
    page.set_viewport_size({"width": 1400, "height": 2600})
    wait_idle(page)
    page.screenshot(path=str(screenshots / "models.png"), full_page=True)

    page.goto(f"{console.url}/detect")
    wait_idle(page)
    page.get_by_text("Answering: production model shapes-b").first.wait_for(timeout=120_000)
    assert not error_texts(page), error_texts(page)
