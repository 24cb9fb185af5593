"""Browser test: the public Detect app refuses a photo over the upload limit on the server, not only in the browser.

The Detect-only app runs with `PLATEOPS_UPLOAD_MAX_MB=1` (so the oversized photo stays small). The oversized photo
is a valid JPEG followed by padding: if only its size were wrong and nobody checked it, it would be detected. An
ordinary browser already refuses it in the upload widget; a client that skips that check (here: Chromium with
`File.size` made to lie for that file) sends all of its bytes, and the server must then answer with the plain
refusal, log nothing, and still answer the next ordinary photo.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page

from backend.core.settings import get_settings
from backend.imaging.loading import load_image
from backend.store import predictions as prediction_store
from backend.store.engine import dispose_all, session_scope
from tests.e2e.conftest import Console, error_texts, start_console, stop_console, wait_idle
from tests.utils import images as imgs
from tests.utils.homes import build_home
from tests.utils.serving_models import add_finished_run
from tests.utils.tiny_data import save_grid_detector

pytestmark = pytest.mark.e2e

LIMIT_MB = 1
OVERSIZED = "oversized-lunch.jpg"
# A client that skips the browser's size check: File.size reports 1 KB for the oversized photo, while the upload
# request still carries every byte of it (the browser serialises the file itself, not the JavaScript getter).
SKIP_BROWSER_CHECK = """
(() => {
  const real = Object.getOwnPropertyDescriptor(Blob.prototype, "size").get;
  Object.defineProperty(Blob.prototype, "size", {
    configurable: true,
    get() {
      const size = real.call(this);
      return this instanceof File && this.name === "OVERSIZED" ? Math.min(size, 1024) : size;
    },
  });
})();
""".replace("OVERSIZED", OVERSIZED)


@pytest.fixture(name="photos", scope="module")
def fixture_photos(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """An ordinary small photo, and the same JPEG padded to 1.5 MB (still a picture Pillow reads)."""
    folder = tmp_path_factory.mktemp("upload_limit_photos")
    small = folder / "lunch.jpg"
    small.write_bytes(imgs.encode(imgs.noise_image((160, 120), seed=3), "JPEG", quality=90))
    oversized = folder / OVERSIZED
    oversized.write_bytes(small.read_bytes() + bytes(3 * 512 * 1024 - small.stat().st_size))
    assert oversized.stat().st_size == 3 * 512 * 1024
    assert load_image(oversized, max_bytes=2 * 1024 * 1024).width == 160, "only its size is wrong"
    return small, oversized


@pytest.fixture(name="console", scope="module")
def fixture_console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Console]:
    """The Detect-only app with a 1 MB limit over a workspace whose newest run always reports "banana" boxes."""
    root = tmp_path_factory.mktemp("e2e_upload_limit")
    home = root / "workspace"
    build_home(home, lambda: add_finished_run(save_grid_detector(root / "grid.pt", imgsz=32), name="demo-grid"))
    env = {"PLATEOPS_AUTO_DEMO": "false", "PLATEOPS_UPLOAD_MAX_MB": str(LIMIT_MB)}
    proc, info = start_console(home, env, ["--detect-only"])
    try:
        yield info
    finally:
        stop_console(proc)


def logged_names(home: Path) -> list[str]:
    """The image names of the prediction rows logged in the workspace at `home`."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PLATEOPS_HOME", str(home))
        mp.delenv("PLATEOPS_DATABASE_URL", raising=False)
        get_settings.cache_clear()
        dispose_all()
        try:
            with session_scope() as session:
                return [row.image_name for row in prediction_store.list_predictions(session=session)]
        finally:
            dispose_all()
            get_settings.cache_clear()


def open_detect(page: Page, console: Console) -> None:
    page.goto(console.url)
    wait_idle(page)
    page.locator("h1", has_text="Detect").first.wait_for()


def choose(page: Page, photo: Path) -> None:
    page.locator("[data-testid='stFileUploaderDropzoneInput']").set_input_files(str(photo))


def test_an_ordinary_browser_refuses_the_oversized_photo(console: Console, page: Page, photos) -> None:
    _, oversized = photos
    open_detect(page, console)
    choose(page, oversized)
    page.get_by_text(f"File must be {LIMIT_MB}.0MB or smaller.").wait_for()
    wait_idle(page)
    assert "Traceback" not in page.inner_text("body")
    assert logged_names(console.home) == []


def test_the_server_refuses_what_the_browser_let_through(console: Console, browser: Browser, photos) -> None:
    small, oversized = photos
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    context.add_init_script(SKIP_BROWSER_CHECK)
    try:
        page = context.new_page()
        page.set_default_timeout(60_000)
        open_detect(page, console)
        choose(page, oversized)
        # Streamlit itself refuses the upload (its limit is the Detect page's, `ui.launch` passes it): the bytes the
        # browser's check did not stop never reach the page, the file's chip shows the failure, nothing is answered
        page.locator("[data-testid='stFileChipIconError']").first.wait_for()
        wait_idle(page)
        assert "File must be" not in page.inner_text("body"), "the browser's own check was skipped"
        assert page.get_by_text("Detected:").count() == 0
        assert page.locator("[data-testid='stException']").count() == 0
        assert "Traceback" not in page.inner_text("body")
        assert logged_names(console.home) == [], "a refused photo leaves no prediction row"

        choose(page, small)  # the next ordinary photo still gets an answer
        page.get_by_text("Detected:").first.wait_for(timeout=120_000)
        wait_idle(page)
        assert page.locator("[data-testid='stImage'] img").count() == 2, "the photo and the annotated photo"
        assert error_texts(page) == []
        assert logged_names(console.home) == [small.name]
    finally:
        context.close()
