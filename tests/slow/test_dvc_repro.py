"""`dvc repro` runs the whole pipeline of dvc.yaml (demo → prepare → validate → train → evaluate) for real,
in a copy of the project with tiny params so it fits the test budget."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.slow


def test_dvc_repro_runs_the_pipeline(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("dvc.yaml", "params.yaml", "backend", "jobs"):
        src = ROOT / name
        (shutil.copytree if src.is_dir() else shutil.copy2)(src, project / name)
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["demo"]["images"] = 36
    params["train"].update({"epochs": 1, "imgsz": 64, "batch": 8, "cache": "none", "workers": 0, "device": "cpu"})
    params["evaluate"]["imgsz"] = 64
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": str(project),
        "PLATEOPS_HOME": str(tmp_path / "workspace"),
        "PLATEOPS_CLEARML_MODE": "offline",
        "DVC_NO_ANALYTICS": "1",
    }
    dvc = [sys.executable, "-m", "dvc"]
    subprocess.run([*dvc, "init", "--no-scm", "-q"], cwd=project, env=env, check=True)
    proc = subprocess.run([*dvc, "repro"], cwd=project, env=env, capture_output=True, text=True, timeout=1500)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    for stage in ("demo", "prepare", "validate", "train", "evaluate"):
        assert f"'{stage}'" in proc.stdout
    assert (project / "data" / "prepared" / "data.yaml").exists()
    assert (project / "runs" / "dvc" / "weights" / "best.pt").exists()
    evaluation = json.loads((project / "reports" / "evaluation.json").read_text())
    assert {"map50", "map50_95", "precision", "recall", "per_class", "latency_ms"} <= set(evaluation)
    assert (project / "dvc.lock").exists()
    # Nothing changed: a second repro does no work.
    again = subprocess.run([*dvc, "repro"], cwd=project, env=env, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0
    assert "didn't change" in again.stdout or "is cached" in again.stdout or "up to date" in again.stdout
