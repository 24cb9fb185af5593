"""ultralytics' restricted checkpoint loading is on wherever PlateOps loads a `.pt`: a crafted pickle is refused
without running, while our own checkpoints (a detector, a resumable training checkpoint) load as before.

The crafted files run in a fresh interpreter, so a failure of the guard could not hide behind state another test
left in this process, and so the payload (it writes a marker file) would be seen if it ever ran.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from backend.training.yolo import SAFE_LOAD_ENV, enable_safe_loading, ultralytics_yolo
from tests.utils.crafted import write_crafted_checkpoint
from tests.utils.tiny_data import save_grid_detector

ROOT = Path(__file__).resolve().parents[2]


def _run(code: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env_code = f"import os; os.environ['PLATEOPS_HOME'] = {str(tmp_path / 'ws')!r}\n" + textwrap.dedent(code)
    return subprocess.run(
        [sys.executable, "-c", env_code], cwd=ROOT, capture_output=True, text=True, timeout=300, check=False
    )


def test_the_switch_is_on_after_ultralytics_is_imported() -> None:
    ultralytics_yolo()
    import ultralytics.nn.tasks as ul_tasks
    import ultralytics.utils as ul_utils

    assert enable_safe_loading() is True
    assert ul_utils.SAFE_LOAD is True and ul_tasks.SAFE_LOAD is True
    import os

    assert os.environ[SAFE_LOAD_ENV] == "1"


@pytest.mark.parametrize(
    "loader",
    [
        # the Detect page, pre-labels, the label-error scan and the promotion gate load through Detector
        "from backend.serving.inference import Detector; Detector.load(WEIGHTS, allowed_root=WEIGHTS.parent)",
        # resuming a training run reads its last.pt first
        "from backend.training.trainer import _read_checkpoint; _read_checkpoint(WEIGHTS)",
        # evaluation (the gate, jobs.evaluate)
        "from backend.training.evaluation import evaluate; evaluate(WEIGHTS, DATA)",
    ],
    ids=["detector", "resume-checkpoint", "evaluation"],
)
def test_a_crafted_checkpoint_is_refused_and_never_runs(tmp_path: Path, loader: str) -> None:
    marker = tmp_path / "payload-ran"
    weights = tmp_path / "weights" / "best.pt"
    weights.parent.mkdir()
    write_crafted_checkpoint(weights, marker)
    data = tmp_path / "data.yaml"
    data.write_text(f"path: {tmp_path}\ntrain: images\nval: images\nnames: [apple]\n", encoding="utf-8")
    (tmp_path / "images").mkdir()
    result = _run(
        f"""
        from pathlib import Path
        from backend.core.errors import PlateOpsError
        WEIGHTS, DATA = Path({str(weights)!r}), Path({str(data)!r})
        try:
            {loader}
        except PlateOpsError as exc:
            print("REFUSED:", exc)
        """,
        tmp_path,
    )
    assert not marker.exists(), "the crafted checkpoint's code ran"
    assert result.returncode == 0, result.stderr[-2000:]
    assert "REFUSED:" in result.stdout, result.stdout[-2000:]


def test_our_own_checkpoints_still_load(tmp_path: Path) -> None:
    weights = save_grid_detector(tmp_path / "runs" / "grid.pt", names=("apple", "banana"), imgsz=64)
    result = _run(
        f"""
        from pathlib import Path
        from backend.serving.inference import Detector
        import ultralytics.nn.tasks as t
        d = Detector.load(Path({str(weights)!r}), allowed_root=Path({str(weights.parent)!r}))
        print("SAFE", t.SAFE_LOAD, "NAMES", d.names)
        """,
        tmp_path,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "SAFE True NAMES ['apple', 'banana']" in result.stdout
