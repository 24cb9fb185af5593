"""Start training from your own pretrained weights.

A checkpoint trained elsewhere (the shared untrained YOLOv8n trained here by `jobs.train --model that.pt`, 1 epoch
at 64 px) is uploaded through the function the
Train page uses, kept as a base model with its sha256 and where it came from, and a console run trains from it and
records it. A crafted pickle is refused in plain words and never runs, on upload and in `jobs.train --model`.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from backend.core.access import AccessDeniedError, Actor, Role
from backend.core.errors import BadInputError
from backend.core.hashing import file_sha256
from backend.core.settings import Settings
from backend.data.datasets import import_dataset
from backend.data.import_request import ImportRequest
from backend.runtime import runner
from backend.store import audit as audit_store
from backend.store import pretrained as pretrained_store
from backend.store.engine import session_scope
from backend.training import service as runs
from backend.training.pretrained import pretrained_folder, pretrained_starting_points, register_pretrained
from backend.training.tasks import start_training
from tests.utils.actors import actor_named
from tests.utils.crafted import write_crafted_checkpoint
from tests.utils.tiny_data import save_untrained_detector
from tests.utils.tiny_yolo import TINY_CLASSES, make_tiny_yolo_dataset

PROJECT_ROOT = Path(__file__).resolve().parents[2]
TINY = {"imgsz": 64, "batch": 8, "nbs": 8, "workers": 0, "cache": "none", "close_mosaic": 0, "warmup_epochs": 0}
ANA = actor_named("ana", Role.SCIENTIST)


@dataclass(frozen=True)
class Elsewhere:
    """A checkpoint trained "elsewhere" and how it was made."""

    checkpoint: Path
    data_yaml: Path
    made_by: subprocess.CompletedProcess[str]  # `jobs.train --model <untrained .pt>`
    root: Path


def _jobs_train(data_yaml: Path, out: Path, model: Path, root: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PLATEOPS_HOME": str(root / "cli-workspace"), "PLATEOPS_CLEARML_MODE": "offline"}
    sets = [f"--set={k}={v}" for k, v in TINY.items() if k not in {"imgsz", "batch"}]
    args = ["--data", str(data_yaml), "--out", str(out), "--model", str(model), "--epochs", "1", "--imgsz", "64"]
    return subprocess.run(
        [sys.executable, "-m", "jobs.train", *args, "--batch", "8", "--device", "cpu", *sets],
        cwd=PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )


@pytest.fixture(scope="module", name="elsewhere")
def fixture_elsewhere(tmp_path_factory: pytest.TempPathFactory) -> Elsewhere:
    """A checkpoint trained "elsewhere": the shared untrained YOLOv8n, trained 1 epoch at 64 px on the tiny shapes
    by `jobs.train --model that.pt` (so the command's .pt path is exercised too)."""
    root = tmp_path_factory.mktemp("pretrained_elsewhere")
    data_yaml = make_tiny_yolo_dataset(root / "data", train=16, val=8, size=64)
    start = save_untrained_detector(root / "untrained.pt", names=TINY_CLASSES, imgsz=64)
    made_by = _jobs_train(data_yaml, root / "run", start, root)
    return Elsewhere(root / "run" / "weights" / "best.pt", data_yaml, made_by, root)


def _upload(path: Path, filename: str, actor: Actor = ANA, source: str = "a tiny training in this test") -> object:
    return register_pretrained(io.BytesIO(path.read_bytes()), filename, source=source, actor=actor)


def test_upload_train_from_it_and_the_run_records_its_base_model(workspace: Settings, elsewhere: Elsewhere) -> None:
    checkpoint, data_yaml = elsewhere.checkpoint, elsewhere.data_yaml
    assert checkpoint.is_file(), elsewhere.made_by.stderr[-2000:]
    base = _upload(checkpoint, "shapes-v1.pt")
    assert base.weights_sha256 == file_sha256(checkpoint)
    kept = Path(base.weights_path)
    assert kept.is_file() and kept.parent == pretrained_folder().resolve() and not kept.stat().st_mode & 0o222
    recorded = (base.name, base.source, base.original_filename)
    assert recorded == ("shapes-v1", "a tiny training in this test", "shapes-v1.pt")
    assert base.class_names == list(TINY_CLASSES) and base.uploaded_by == "ana"
    assert f"pretrained:{base.id}" in pretrained_starting_points()
    assert _upload(checkpoint, "again.pt").id == base.id, "the same file is the same base model"
    with session_scope() as session:
        assert len(pretrained_store.list_pretrained_models(session=session)) == 1
        audit = audit_store.list_events(session=session, actor="ana")
    assert [(e.action, e.allowed) for e in audit][:2] == [("train", True), ("train", True)]
    assert "upload base model shapes-v1.pt" in {e.target for e in audit}

    version = import_dataset(ImportRequest(source=data_yaml.parent, name="shapes", author="test")).id
    config = runs.build_config(None, {**TINY, "epochs": 1, "device": "cpu", "model": f"pretrained:{base.id}"})
    job_id = start_training(version, config, name="from-base", actor=ANA)
    job = runner.wait_for(job_id, timeout_s=600)
    assert job.status == "succeeded", f"{job.error}\n{runner.tail_log(job, 60)}"
    assert "from base model shapes-v1" in job.title
    run = runs.run_for_job(job_id)
    assert run is not None and run.status == "succeeded"
    assert run.pretrained_model_id == base.id and run.model == base.weights_path
    assert Path(run.weights_path or "").is_file()

    kept.chmod(0o644)
    kept.write_bytes(kept.read_bytes() + b"changed")  # the file no longer has the sha256 recorded at upload
    with pytest.raises(BadInputError, match="changed or is gone"):
        start_training(version, config, name="from-changed-base", actor=ANA)


def test_a_crafted_pickle_is_refused_in_plain_words_and_never_runs(workspace: Settings, tmp_path: Path) -> None:
    marker = tmp_path / "payload-ran"
    crafted = write_crafted_checkpoint(tmp_path / "yolov8n.pt", marker)
    with pytest.raises(BadInputError, match="was refused") as refused:
        _upload(crafted, "yolov8n.pt")
    assert "Nothing in it was run" in str(refused.value) and "Traceback" not in str(refused.value)
    assert not marker.exists(), "the crafted checkpoint's code ran"
    with session_scope() as session:
        assert pretrained_store.list_pretrained_models(session=session) == []
    assert not any(p.is_file() for p in pretrained_folder().rglob("*")), "nothing of the refused file is kept"


def test_only_a_scientist_or_admin_may_upload_and_only_a_pt(workspace: Settings, elsewhere: Elsewhere) -> None:
    checkpoint = elsewhere.checkpoint
    for role in (Role.VIEWER, Role.REVIEWER):
        with pytest.raises(AccessDeniedError):
            _upload(checkpoint, "shapes.pt", actor=actor_named("pat", role))
    with pytest.raises(BadInputError, match=r"not a \.pt file"):
        _upload(checkpoint, "shapes.onnx")
    with pytest.raises(BadInputError, match="where the checkpoint comes from"):
        _upload(checkpoint, "shapes.pt", source="  ")
    assert _upload(checkpoint, "shapes.pt", actor=actor_named("root", Role.ADMIN)).uploaded_by == "root"


def test_jobs_train_model_pt_reads_through_the_same_restricted_loader(elsewhere: Elsewhere, tmp_path: Path) -> None:
    done = elsewhere.made_by  # trained from a local .pt
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip().startswith(f"Trained {elsewhere.root / 'untrained.pt'} for 1 epoch")
    assert elsewhere.checkpoint.is_file()

    marker = tmp_path / "payload-ran"
    crafted = write_crafted_checkpoint(tmp_path / "crafted.pt", marker)
    refused = _jobs_train(elsewhere.data_yaml, tmp_path / "crafted-run", crafted, tmp_path)
    assert refused.returncode == 2, refused.stderr[-2000:]
    assert refused.stderr.strip().splitlines()[-1].startswith("error: crafted.pt was refused")
    assert "Traceback" not in refused.stderr and not marker.exists()
