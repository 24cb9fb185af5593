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
