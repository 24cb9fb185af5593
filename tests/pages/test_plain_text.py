"""AppTest: class, file, run and job names from imports show as plain text on every page that shows them.

The workspace holds one imported dataset whose class names, one file name, author and version note are hostile
Markdown and HTML, a review-queue item, jobs and a production model named the same way. Every text of each page that
Streamlit reads as Markdown (markdown, captions, alerts, headers, toasts, progress text, widget labels and help,
metric labels and values, radio options, expander and tab labels) must hold those names escaped, never raw.
"""

from __future__ import annotations

import json
import os
import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from backend.core.enums import ReviewSource
from backend.core.settings import Settings
from backend.data.datasets import import_dataset
from backend.data.demo import generate_demo_dataset
from backend.data.import_request import ImportRequest
from backend.store import jobs as job_store
from backend.store import review as review_store
from backend.store.engine import dispose_all, session_scope
from backend.store.rows import utcnow
from tests.pages.apptest_utils import open_page
from tests.utils.homes import build_home
from tests.utils.serving_models import add_finished_run, promote
from tests.utils.tiny_data import save_grid_detector
from ui.datasets.versions import TABS
from ui.widgets.text import plain

# Class names pass the import's class-name rule (letters, digits, spaces and _-.'()+, only: no *, <, [, :, $), so
# the hostile ones left are Markdown made of allowed characters; the HTML, links and colours come in the file name,
# the author, the note and the run name, which any text may hold.
CLASSES = ("__bold__", "_em_ (a)", "x+y, it's _z_", "1. _list_", "__strong__ + _em_")
FILE = "**evil** <img src=x onerror=alert(2)> [a](b) :red[y] $y$.jpg"
AUTHOR = "**author** <img src=x onerror=alert(3)>"
MESSAGE = "[note](http://evil.example) <img src=x onerror=alert(4)> :red[msg]"
RUN = "**run** <img src=x onerror=alert(5)> :red[r]"
HOSTILE = (*CLASSES, FILE, AUTHOR, MESSAGE, RUN)
RAW_HTML = re.compile(r"(?<!\\)<img")

# Elements whose text Streamlit shows as it is (no Markdown): nothing to check there.
PLAIN_TYPES = {"text", "code", "json", "arrow_data_frame", "dataframe", "data_editor", "table", "html", "exception"}
MARKDOWN_FIELDS = ("body", "label", "help", "text")


def _fill() -> None:
    """The hostile import (6 demo images), a review-queue item for its hostile file, and two jobs named after both."""
    from backend.core.settings import get_settings

    raw = get_settings().home / "raw-hostile"
    generate_demo_dataset(raw, images=6, seed=3)
    coco = json.loads((raw / "annotations.json").read_text(encoding="utf-8"))
    for category, name in zip(coco["categories"], CLASSES, strict=False):
        category["name"] = name
    first = coco["images"][0]
    os.rename(raw / "images" / first["file_name"], raw / "images" / FILE)
    first["file_name"] = FILE
    (raw / "annotations.json").write_text(json.dumps(coco), encoding="utf-8")
    request = ImportRequest(
        source=raw / "annotations.json", name="hostile", images_dir=raw / "images", author=AUTHOR, message=MESSAGE
    )
    version = import_dataset(request)
    shutil.rmtree(raw)
    with session_scope() as session:
        review_store.add_review_item(
            session=session,
            source=ReviewSource.USER,
            reason=f"check {CLASSES[1]} on {FILE}",
            file=FILE,
            dataset_version_id=version.id,
            class_name=CLASSES[0],
        )
        done = job_store.create_job(session=session, kind="train", params={}, title=f"Train {RUN}")
        job_store.update_job(session=session, job_id=done.id, changes=job_store.JobUpdate(started_at=utcnow()))
        job_store.finish_job(session=session, job_id=done.id, status="succeeded", result={})
        job_store.update_job(session=session, job_id=done.id, changes=job_store.JobUpdate(message=f"Made {RUN}"))
        failed = job_store.create_job(session=session, kind="train", params={}, title=f"Train on {FILE}")
        job_store.finish_job(session=session, job_id=failed.id, status="failed", error=f"{FILE} is broken: {MESSAGE}")


@pytest.fixture(scope="module", name="hostile_home")
def fixture_hostile_home(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The hostile workspace and a tiny detector whose classes are the hostile names, built once for this file."""
    root = tmp_path_factory.mktemp("plain_text")
    weights = save_grid_detector(root / "grid.pt", names=CLASSES, imgsz=64, class_id=1)  # finds CLASSES[1]
    return build_home(root / "workspace", _fill), weights


@pytest.fixture(name="hostile")
def fixture_hostile(hostile_home: tuple[Path, Path], workspace: Settings) -> Iterator[Settings]:
    """This test's own copy of the hostile workspace, with the detector as the production model named RUN."""
    home, weights = hostile_home
    dispose_all()
    shutil.copytree(home, workspace.home, symlinks=True)
    promote(add_finished_run(weights, name="hostile-run"), name=RUN)
    yield workspace


def _nodes(node: Any) -> Iterator[Any]:
    yield node
    for child in getattr(node, "children", {}).values():
        yield from _nodes(child)


def markdown_texts(at: AppTest) -> list[str]:
    """Every text on the page that Streamlit reads as Markdown, from a walk over the whole element tree."""
    texts: list[str] = []
    for node in _nodes(at._tree):  # pylint: disable=protected-access  # the whole tree, blocks and all
        proto = getattr(node, "proto", None)
        if proto is None or node.type in PLAIN_TYPES:
            continue
        for field in MARKDOWN_FIELDS:
            value = getattr(proto, field, None)
            if isinstance(value, str) and value:
                texts.append(value)
        if node.type == "radio":
            texts.extend(str(option) for option in proto.options)
        for image in getattr(proto, "imgs", []):
            texts.append(image.caption)
    return texts


def assert_plain(at: AppTest, *, shown: tuple[str, ...]) -> list[str]:
    """No hostile name raw in any Markdown text (and no raw <img), and each of `shown` there escaped."""
    assert not at.exception, [e.value for e in at.exception]
    texts = markdown_texts(at)
    for text in texts:
        assert not RAW_HTML.search(text), text
        for name in HOSTILE:
            assert name not in text, (name, text)
    joined = "\n".join(texts)
    for name in shown:
        assert plain(name) in joined, (plain(name), joined)
    return texts


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


# --- the pages ----------------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("hostile")
def test_datasets_page_shows_names_escaped() -> None:
    at = open_page("pages/datasets.py")
    assert_plain(at, shown=(MESSAGE, AUTHOR))
    at.session_state["ds_tab"] = TABS[1]
    assert_plain(run(at), shown=())
    at.session_state["ds_tab"] = TABS[2]
    at.session_state["ds_open"] = FILE
    texts = assert_plain(run(at), shown=(FILE,))
    assert any(text.startswith("🔍") and plain(FILE) in text for text in texts), "the opened image's header"


@pytest.mark.usefixtures("hostile")
def test_annotate_page_shows_names_escaped() -> None:
    at = open_page("pages/annotate.py")
    assert_plain(at, shown=(FILE, CLASSES[0], CLASSES[1]))  # the file, the queue reason, the new-box class
    at.session_state["annot_new_class"] = CLASSES[1]  # the one line that allows HTML names this class
    texts = assert_plain(run(at), shown=(CLASSES[1],))
    assert any("<span style=" in text and plain(CLASSES[1]) in text for text in texts)
    next(b for b in at.button if b.label == "Suggest boxes from the model").click()
    assert_plain(run(at), shown=())


@pytest.mark.usefixtures("hostile")
def test_home_jobs_models_train_and_monitor_show_names_escaped() -> None:
    at = open_page()
    assert_plain(at, shown=(RUN, FILE, MESSAGE))  # the production model, the jobs' titles, messages and errors
    for page, shown in (
        ("pages/jobs.py", (RUN, FILE, MESSAGE)),
        ("pages/models.py", (RUN,)),
        ("pages/train.py", (FILE,)),
        ("pages/monitor.py", (RUN,)),
    ):
        at.switch_page(page)
        assert_plain(run(at), shown=shown)


@pytest.mark.usefixtures("hostile")
def test_detect_page_shows_class_and_file_names_escaped() -> None:
    from tests.utils import images as imgs

    at = open_page("pages/detect.py")
    assert_plain(at, shown=(RUN,))
    picture = imgs.encode(imgs.noise_image((96, 72), seed=4), "JPEG")
    at.file_uploader(key="detect_uploads").set_value([(FILE, picture, "image/jpeg")])
    assert_plain(run(at), shown=(FILE, CLASSES[1]))  # the picture's header, its items, the recipe caption
    items = next(df.value for df in at.dataframe)
    assert set(items["item"]) == {CLASSES[1]}, "the table shows the name as it is"
    missed = at.selectbox(key=next(s.key for s in at.selectbox if s.key.startswith("fb_missed_pick_")))
    missed.set_value(CLASSES[3])
    run(at)
    at.button(key=next(b.key for b in at.button if b.key.startswith("fb_missed_") and "pick" not in b.key)).click()
    texts = assert_plain(run(at), shown=(CLASSES[3],))
    assert any(text.startswith("Thanks!") and plain(CLASSES[3]) in text for text in texts)
