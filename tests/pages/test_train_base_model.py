"""AppTest: the Train page starts a run from uploaded pretrained weights (a base model).

A scientist uploads a .pt in the custom settings, it becomes the selected base model and a launch queues a job
that starts from it; a crafted pickle is refused in plain words and nothing in it runs; a viewer sees the upload and
Start training disabled before clicking. Jobs stay queued (`{"train": 0}`): no worker starts here.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from backend.auth.users import hash_password
from backend.core.access import Actor, Role
from backend.core.settings import Settings, get_settings
from backend.store import pretrained as pretrained_store
from backend.store.engine import session_scope
from tests.pages.apptest_utils import PROJECT_ROOT, all_text, open_page
from tests.pages.test_train_page import add_version, run, train_jobs
from tests.utils.crafted import write_crafted_checkpoint
from tests.utils.tiny_data import TINY_CLASSES, save_untrained_detector

PAGE = "pages/train.py"


@pytest.fixture(name="queued_only")
def fixture_queued_only(workspace: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """No training slot: launched jobs stay queued and no worker process ever starts."""
    monkeypatch.setenv("PLATEOPS_JOB_CONCURRENCY", '{"train": 0}')
    get_settings.cache_clear()
    return get_settings()


def _pretrained_settings(at: AppTest) -> AppTest:
    at.radio(key="train_preset").set_value("custom")
    run(at)
    at.selectbox(key="train_model").set_value("pretrained")
    return run(at)


def _upload(at: AppTest, path: Path, name: str, source: str = "COCO-pretrained, from our old project") -> AppTest:
    at.file_uploader(key="train_base_file").set_value((name, path.read_bytes(), "application/octet-stream"))
    at.text_input(key="train_base_source").input(source)
    at.button(key="train_base_submit").click()
    return run(at)


@pytest.mark.usefixtures("queued_only")
def test_upload_a_pt_select_it_and_launch_from_it(tmp_path: Path) -> None:
    add_version(tmp_path)
    at = _pretrained_settings(open_page(PAGE))
    assert "No base model yet" in all_text(at)
    assert at.button(key="train_start").disabled, "nothing to start from until a checkpoint is uploaded"

    checkpoint = save_untrained_detector(tmp_path / "coco-yolov8n.pt", names=TINY_CLASSES)
    at = _upload(at, checkpoint, "coco-yolov8n.pt")
    assert not at.error, [e.value for e in at.error]
    with session_scope() as session:
        (base,) = pretrained_store.list_pretrained_models(session=session)
    assert (base.original_filename, base.source) == ("coco-yolov8n.pt", "COCO-pretrained, from our old project")
    assert at.selectbox(key="train_model_base").value == f"pretrained:{base.id}", "the upload is selected"
    assert "fine-tunes an uploaded base model" in all_text(at)

    at.button(key="train_start").click()
    run(at)
    (job,) = train_jobs()
    assert job.params["config"]["model"] == base.weights_path and job.params["pretrained_model_id"] == base.id
    assert "from base model coco-yolov8n" in job.title


@pytest.mark.usefixtures("queued_only")
def test_a_crafted_pickle_is_refused_on_the_page_and_never_runs(tmp_path: Path) -> None:
    add_version(tmp_path)
    marker = tmp_path / "payload-ran"
    crafted = write_crafted_checkpoint(tmp_path / "yolov8n.pt", marker)
    at = _upload(_pretrained_settings(open_page(PAGE)), crafted, "yolov8n.pt")
    errors = [e.value for e in at.error]
    assert any("yolov8n.pt was refused" in e and "Nothing in it was run" in e for e in errors), errors
    assert not marker.exists(), "the crafted checkpoint's code ran"
    with session_scope() as session:
        assert pretrained_store.list_pretrained_models(session=session) == []
    assert at.button(key="train_start").disabled


def test_a_viewer_sees_start_and_upload_disabled_before_clicking(
    queued_only: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(
        f'[plateops.users.vic]\nrole = "viewer"\npassword_hash = "{hash_password("vic-password")}"\n',
        encoding="utf-8",
    )
    monkeypatch.setenv("PLATEOPS_SECRETS_FILE", str(secrets))
    get_settings.cache_clear()
    add_version(tmp_path)
    at = AppTest.from_file(str(PROJECT_ROOT / "Home.py"), default_timeout=60)
    at.session_state["plateops_actor"] = Actor(name="vic", role=Role.VIEWER)
    at.switch_page(PAGE)
    run(at)
    assert at.button(key="train_start").disabled
    assert "a viewer may look at training but not start it" in all_text(at)
    _pretrained_settings(at)
    assert at.button(key="train_base_submit").disabled
    assert train_jobs() == []
