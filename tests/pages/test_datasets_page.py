"""AppTest: the Datasets page on an empty workspace and on one holding a real demo version with planted defects."""

from __future__ import annotations

import io
import shutil
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from streamlit.testing.v1 import AppTest

from backend.core.settings import Settings, get_settings
from backend.store import datasets as dataset_store
from backend.store import jobs as job_store
from backend.store import review as review_store
from backend.store.engine import dispose_all, session_scope
from backend.store.rows import utcnow
from tests.pages.apptest_utils import all_text, open_page
from tests.utils.homes import build_demo_home
from ui.datasets.versions import TABS

PAGE = "pages/datasets.py"
OVERVIEW, QUALITY, GALLERY, IMPORT = TABS


@pytest.fixture(scope="module", name="built_home")
def fixture_built_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A workspace with one real demo version (30 images + planted defects), built once for this file."""
    yield build_demo_home(tmp_path_factory.mktemp("datasets_page") / "workspace", images=30, seed=1, defects=True)


@pytest.fixture(name="populated")
def fixture_populated(built_home: Path, workspace: Settings) -> Settings:
    """This test's own copy of the built workspace (its store and files; version folders stay shared, read-only)."""
    dispose_all()
    shutil.copytree(built_home, workspace.home, symlinks=True)
    return workspace


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def open_tab(at: AppTest, tab: str) -> AppTest:
    at.session_state["ds_tab"] = tab
    return run(at)


def chart_count(at: AppTest) -> int:
    return len(at.get("vega_lite_chart")) + len(at.get("arrow_vega_lite_chart"))


def version_id() -> int:
    with session_scope() as session:
        return dataset_store.list_versions(session=session)[0].id


# --- empty workspace --------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("workspace")
def test_empty_workspace_explains_and_offers_import() -> None:
    at = open_page(PAGE)
    text = all_text(at)
    assert "No dataset yet" in text
    assert "Import a dataset" in text
    assert at.button(key="ds_upload_submit") is not None
    assert not at.tabs, "no version tabs before a dataset exists"


@pytest.mark.usefixtures("workspace")
def test_empty_workspace_shows_running_demo_job() -> None:
    at = open_page()  # bootstrap the store first
    with session_scope() as session:
        job = job_store.create_job(
            session=session, kind="demo_dataset", params={}, title="Create the demo food dataset"
        )
        job_store.update_job(
            session=session,
            job_id=job.id,
            changes=job_store.JobUpdate(
                status="running", progress=0.3, message="Drawing: 12/40", heartbeat_at=utcnow(), started_at=utcnow()
            ),
        )
    at.switch_page(PAGE)
    run(at)
    assert "being made right now" in all_text(at)
    assert [p.proto.value for p in at.get("progress")] == [30]


# --- a real version ---------------------------------------------------------------------------------------------


@pytest.mark.usefixtures("populated")
def test_overview_shows_metrics_charts_and_preflight() -> None:
    at = open_page(PAGE)
    metrics = {m.label: m.value for m in at.metric}
    assert int(metrics["Images"]) >= 30
    assert int(metrics["Boxes"]) > 0
    assert metrics["Classes"] == "12"
    train, val = (int(x) for x in metrics["Train / val"].split(" / "))
    assert train > val > 0
    assert chart_count(at) >= 4, "class, boxes per image, box size and image size charts"
    text = all_text(at)
    assert "Pre-flight report" in text
    assert "v1" in text and "DVC content hash" in text and "PlateOps demo generator" in text
    class_map = [d.value for d in at.dataframe if "YOLO id" in d.value.columns]
    assert class_map and len(class_map[0]) == 12


@pytest.mark.usefixtures("populated")
def test_quality_tab_lists_issues_filters_and_sends_to_review() -> None:
    at = open_tab(open_page(PAGE), QUALITY)
    issues = next(d.value for d in at.dataframe if "message" in d.value.columns)
    assert {"corrupt_image", "degenerate_bbox", "tiny_bbox"} <= set(issues["check"])
    assert chart_count(at) >= 1, "issues by check"
    assert "Some images have errors" in all_text(at)

    at.multiselect(key="ds_issue_checks").set_value(["tiny_bbox"])
    run(at)
    issues = next(d.value for d in at.dataframe if "message" in d.value.columns)
    assert set(issues["check"]) == {"tiny_bbox"}
    files = set(issues["file"])

    at.button(key="ds_send_review").click()
    run(at)
    assert "now in the review queue" in all_text(at)
    with session_scope() as session:
        queued = review_store.list_review_items(session=session)
    assert {item.file for item in queued} == files
    assert {item.reason for item in queued} == {"Validation: tiny_bbox"}

    at.multiselect(key="ds_issue_checks").set_value([])  # every check: each image says which flagged it
    run(at)
    every = next(d.value for d in at.dataframe if "message" in d.value.columns)
    at.button(key="ds_send_review").click()
    run(at)
    with session_scope() as session:
        queued = [
            i for i in review_store.list_review_items(session=session, limit=1000) if i.id not in {q.id for q in queued}
        ]
    assert queued and not any("all checks" in item.reason for item in queued)
    for item in queued:
        flagged = sorted(set(every[every["file"] == item.file]["check"]))
        assert item.reason == f"Validation: {', '.join(flagged)}", item.reason


@pytest.mark.usefixtures("populated")
def test_validate_again_runs_a_validate_job() -> None:
    at = open_tab(open_page(PAGE), QUALITY)
    at.button(key="ds_validate").click()
    run(at)
    with session_scope() as session:
        jobs = job_store.list_jobs(session=session, kind="validate")
    assert len(jobs) == 1 and jobs[0].params == {"version_id": version_id()}
    assert f"job {jobs[0].id}" in all_text(at)
    deadline = time.monotonic() + 90
    while True:  # the real worker runs the checks; wait so no process outlives the test
        with session_scope() as session:
            job = job_store.get_job(session=session, job_id=jobs[0].id)
        if not job.active or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert job.status == "succeeded", job.error
    run(at)
    assert "Finished" in all_text(at)


@pytest.mark.usefixtures("populated")
def test_gallery_filters_by_class_and_opens_detail() -> None:
    from backend.data.datasets import gallery

    at = open_tab(open_page(PAGE), GALLERY)
    assert len(at.get("image")) == 12, "first page of thumbnails"
    _, images = gallery(version_id())
    with_pizza = [img.file for img in images if "pizza" in img.classes]
    assert 0 < len(with_pizza) < len(images)

    from backend.data.index import index_state

    state = index_state(version_id())
    assert state is not None and state.ready
    at.multiselect(key="ds_gallery_classes").set_value([state.names.index("pizza")])
    run(at)
    shown = [m.value.strip("*") for m in at.markdown if m.value.startswith("**demo")]
    assert shown and set(shown) <= set(with_pizza)
    assert len(shown) == min(12, len(with_pizza))

    at.button(key=next(b.key for b in at.button if b.key and b.key.startswith("ds_open_"))).click()
    run(at)
    assert f"🔍 {shown[0]}" in [s.value for s in at.subheader]
    boxes = next(d.value for d in at.dataframe if "x1" in d.value.columns)
    assert "pizza" in set(boxes["class"])
    assert (boxes["x2"] > boxes["x1"]).all() and (boxes["y2"] > boxes["y1"]).all()

    at.button(key="ds_close").click()
    run(at)
    assert not any(s.value.startswith("🔍") for s in at.subheader)


@pytest.mark.usefixtures("populated")
def test_gallery_shows_issue_images() -> None:
    at = open_tab(open_page(PAGE), GALLERY)
    at.multiselect(key="ds_gallery_checks").set_value(["corrupt_image"])
    run(at)
    # Corrupt files were left out at import: they show with the reason instead of a picture.
    assert any("no picture" in w.value for w in at.warning)
    assert len(at.get("image")) == 0


@pytest.mark.usefixtures("populated")
def test_import_with_bad_name_shows_plain_error() -> None:
    at = open_tab(open_page(PAGE), IMPORT)
    at.text_input(key="ds_upload_name").input("lunch photos!")
    at.button(key="ds_upload_submit").click()
    run(at)
    errors = [e.value for e in at.error]
    assert any("cannot name a dataset" in e and "letters, digits" in e for e in errors), errors

    at.session_state["ds_import_source"] = "server"
    run(at)
    at.text_input(key="ds_server_name").input("lunch")
    at.text_input(key="ds_server_path").input("/nowhere/annotations.json")
    at.button(key="ds_server_submit").click()
    run(at)
    assert any("does not exist on the server" in e.value for e in at.error)
    with session_scope() as session:
        assert not job_store.list_jobs(session=session, kind="import_dataset")


@pytest.mark.usefixtures("populated")
def test_upload_saves_unique_file_and_queues_import(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLATEOPS_JOB_CONCURRENCY", '{"import_dataset": 0}')  # keep the job queued: no worker
    get_settings.cache_clear()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("data.yaml", "names: [apple]\ntrain: images/train\nval: images/val\n")
    payload = buffer.getvalue()

    at = open_tab(open_page(PAGE), IMPORT)
    for _ in range(2):  # two uploads of the same file name never share a path
        at.file_uploader(key="ds_upload_file").set_value(("lunch export.zip", payload, "application/zip"))
        at.text_input(key="ds_upload_name").input("lunch")
        at.button(key="ds_upload_submit").click()
        run(at)
    with session_scope() as session:
        jobs = job_store.list_jobs(session=session, kind="import_dataset")
    assert len(jobs) == 2
    sources = {Path(j.params["source"]) for j in jobs}
    assert len(sources) == 2
    for job in jobs:
        source = Path(job.params["source"])
        assert source.parent == get_settings().home / "uploads"
        assert source.read_bytes() == payload
        assert job.params["name"] == "lunch" and job.params["delete_source_after"] is True
        assert job.status == "queued"
    assert "Waiting for a free slot" in all_text(at)


@pytest.mark.usefixtures("populated")
def test_finished_import_points_at_the_new_version() -> None:
    at = open_page(PAGE)
    vid = version_id()
    with session_scope() as session:  # an import this session started, already finished
        job = job_store.create_job(session=session, kind="import_dataset", params={}, title="Import lunch.zip as lunch")
        job_store.update_job(
            session=session,
            job_id=job.id,
            changes=job_store.JobUpdate(
                status="succeeded", started_at=utcnow(), finished_at=utcnow(), result={"version_id": vid, "images": 42}
            ),
        )
    at.session_state["ds_jobs"] = {"import": job.id}
    open_tab(at, IMPORT)
    assert any("is ready" in s.value for s in at.success)
    at.button(key=f"ds-import-show-{vid}").click()
    run(at)
    assert at.session_state["ds_tab"] == OVERVIEW
    assert any(m.label == "Images" for m in at.metric)


@pytest.mark.usefixtures("populated")
def test_page_reads_no_label_file_and_lists_no_version_folder(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every tab, a filter change, a page turn and an opened image: the only version files read are pictures."""
    import builtins
    import io
    import os

    from backend.data.quality.reader import IMAGE_SUFFIXES

    with session_scope() as session:
        versions_root = str(Path(dataset_store.list_versions(session=session)[0].path).resolve().parent)
    touched: list[str] = []

    def note(path: object, what: str) -> None:
        if isinstance(path, (str, os.PathLike)):
            full = os.path.abspath(os.fspath(path))
            if full.startswith(versions_root) and (what != "open" or Path(full).suffix.lower() not in IMAGE_SUFFIXES):
                touched.append(f"{what} {full}")

    def watched(real: Any, what: str) -> Any:
        def call(path: Any, *args: Any, **kwargs: Any) -> Any:
            note(path, what)
            return real(path, *args, **kwargs)

        return call

    monkeypatch.setattr(builtins, "open", watched(builtins.open, "open"))
    monkeypatch.setattr(io, "open", watched(io.open, "open"))
    monkeypatch.setattr(os, "open", watched(os.open, "open"))
    monkeypatch.setattr(os, "scandir", watched(os.scandir, "list"))
    monkeypatch.setattr(os, "listdir", watched(os.listdir, "list"))

    from backend.data.datasets import gallery

    gallery(version_id())  # the old way (lists the folder, reads every label file) is caught by the watch
    assert any(t.startswith("list ") for t in touched) and any(t.endswith(".txt") for t in touched)
    touched.clear()

    at = open_page(PAGE)
    assert any(m.label == "Images" for m in at.metric)
    open_tab(at, QUALITY)
    assert next(d.value for d in at.dataframe if "message" in d.value.columns) is not None
    open_tab(at, GALLERY)
    assert len(at.get("image")) == 12
    at.number_input(key="ds_gallery_page").set_value(2)
    run(at)
    at.selectbox(key="ds_gallery_box_count").set_value("4–8")
    run(at)
    at.button(key=next(b.key for b in at.button if b.key and b.key.startswith("ds_open_"))).click()
    run(at)
    assert any(s.value.startswith("🔍") for s in at.subheader)
    assert touched == [], touched[:5]


@pytest.mark.usefixtures("populated")
def test_a_version_without_index_gets_one_in_the_background() -> None:
    from backend.store import dataset_index as index_store

    vid = version_id()
    with session_scope() as session:
        index_store.clear_index(session=session, version_id=vid)
    at = open_page(PAGE)
    assert "Indexing this version" in all_text(at)
    assert not any(m.label == "Images" for m in at.metric)
    with session_scope() as session:
        jobs = job_store.list_jobs(session=session, kind="index_version")
    assert len(jobs) == 1 and jobs[0].params == {"version_id": vid}
    run(at)  # a rerun while it builds starts no second job
    with session_scope() as session:
        assert len(job_store.list_jobs(session=session, kind="index_version")) == 1
    deadline = time.monotonic() + 90
    while True:  # the real worker builds the index
        with session_scope() as session:
            job = job_store.get_job(session=session, job_id=jobs[0].id)
        if not job.active or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert job.status == "succeeded", job.error
    run(at)
    assert any(m.label == "Images" for m in at.metric)
