"""AppTest: the Datasets page exports the shown version as a zip that imports back to the same dataset."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from backend.core.settings import Settings
from tests.pages.apptest_utils import all_text, open_page
from tests.utils.homes import build_demo_home

PAGE = "pages/datasets.py"


@pytest.fixture(scope="module", name="built_home")
def fixture_built_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    yield build_demo_home(tmp_path_factory.mktemp("datasets_export") / "workspace", images=12, seed=2)


@pytest.mark.parametrize("fmt", ["voc", "yolo"])
def test_export_control_writes_a_zip_and_offers_it(built_home: Path, workspace: Settings, fmt: str) -> None:
    import shutil

    from backend.store.engine import dispose_all

    dispose_all()
    shutil.copytree(built_home, workspace.home, symlinks=True, dirs_exist_ok=True)
    at = open_page(PAGE)
    assert any(str(t.value).startswith("Layout: COCO dataset") for t in at.text), "the layout is named"
    at.radio(key="ds_export_fmt_1").set_value(fmt).run()
    at.button(key="ds_export_go_1").click().run()
    assert not at.exception, [e.value for e in at.exception]
    assert "Exported 12 images" in all_text(at)
    archive = workspace.home / "exports" / f"demo-food-v1-{fmt}.zip"
    with zipfile.ZipFile(archive) as zf:
        names = zf.namelist()
    assert ("labelmap.txt" in names) if fmt == "voc" else ("data.yaml" in names)
    assert sum(n.endswith(".jpg") for n in names) == 12
    assert at.get("download_button"), "the zip is offered for download"


def test_server_import_can_ask_for_a_fresh_split(
    built_home: Path, workspace: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from backend.core.settings import get_settings
    from backend.store import jobs as job_store
    from backend.store.engine import dispose_all, session_scope
    from ui.datasets.versions import TABS

    dispose_all()
    shutil.copytree(built_home, workspace.home, symlinks=True, dirs_exist_ok=True)
    monkeypatch.setenv("PLATEOPS_JOB_CONCURRENCY", '{"import_dataset": 0}')  # keep the job queued: no worker
    monkeypatch.setenv("PLATEOPS_IMPORT_ROOTS", str(tmp_path))  # server-folder imports stay inside the roots
    get_settings.cache_clear()
    (tmp_path / "export").mkdir()
    (tmp_path / "export" / "data.yaml").write_text("names: [apple]\ntrain: images/train\nval: images/val\n")
    at = open_page(PAGE)
    at.session_state["ds_tab"] = TABS[-1]
    at.run()
    at.session_state["ds_import_source"] = "server"
    at.run()
    at.text_input(key="ds_server_name").input("lunch")
    at.text_input(key="ds_server_path").input(str(tmp_path / "export"))
    at.checkbox(key="ds_server_fresh_split").check()
    at.button(key="ds_server_submit").click()
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    with session_scope() as session:
        jobs = job_store.list_jobs(session=session, kind="import_dataset")
    assert [j.params["fresh_split"] for j in jobs] == [True]
