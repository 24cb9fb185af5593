"""State stays consistent under faults: a version row only after DVC froze and pushed it, DVC's own error line,
a full disk while saving, a failed import that removes only its own staging folder, and two workers plus the
console writing the store at once. Real DVC, real SQLite, real worker processes."""

from __future__ import annotations

import errno
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from backend.core.errors import PlateOpsError
from backend.core.settings import Settings, get_settings
from backend.data import datasets as dataset_service
from backend.data.demo import generate_demo_dataset
from backend.data.import_request import ImportRequest
from backend.data.versions import VersioningError, dvc_error_line, manifest
from backend.runtime import runner
from backend.store import datasets as dataset_store
from backend.store.engine import get_engine, init_db, session_scope
from tests.utils.crash import kill_leftover_workers
from tests.utils.jobtasks import SleepParams

DVC_FAILURE = """ERROR: failed to push data to the cloud - 1 files failed to upload
\x20
Having any troubles? Hit us up at https://dvc.org/support, we are always happy to help!
"""


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small COCO demo set (annotations.json + images/) to import."""
    raw = tmp_path_factory.mktemp("state-source")
    generate_demo_dataset(raw, images=12, seed=5, workers=1)
    return raw


def _import(source: Path, name: str = "food", message: str = "", job_id: int | None = None) -> Any:
    request = ImportRequest(
        source=source / "annotations.json", name=name, images_dir=source / "images", message=message
    )
    return dataset_service.import_dataset(request, job_id=job_id)


def _numbers(name: str = "food") -> list[int]:
    with session_scope() as session:
        dataset = dataset_store.find_dataset(session=session, name=name)
        return sorted(v.number for v in dataset_store.list_versions(session=session, dataset_id=dataset.id))


def test_dvc_error_line_skips_the_support_footer() -> None:
    assert dvc_error_line(DVC_FAILURE) == "failed to push data to the cloud - 1 files failed to upload"
    assert dvc_error_line("plain words\nHaving any troubles? Hit us up at https://dvc.org/support") == "plain words"
    assert dvc_error_line("") == "no output"


def test_a_failed_dvc_push_records_no_version_and_says_dvcs_own_line(workspace: Settings, source: Path) -> None:
    first = _import(source)
    kept = manifest(Path(first.path))
    remote = workspace.home / "dvc-remote"
    shutil.rmtree(remote)
    remote.write_text("a file where the remote folder should be")  # every push now fails inside DVC
    with pytest.raises(VersioningError) as failure:
        _import(source, message="second")
    message = str(failure.value)
    assert message.startswith("dvc push") and "dvc.org/support" not in message and "troubles" not in message
    assert _numbers() == [1]  # no row for the version DVC could not push
    dataset_dir = workspace.datasets_dir / "food"
    assert sorted(p.name for p in dataset_dir.iterdir()) == ["v1", "v1.dvc"]  # no v2 folder, .dvc or staging
    assert manifest(Path(first.path)) == kept
    remote.unlink()
    second = _import(source, message="second")  # fixed: the next save takes the number the failed one never used
    assert second.number == 2 and second.content_hash
    assert _numbers() == [1, 2]


def test_a_full_disk_while_saving_a_version_is_said_plainly_and_loses_nothing(
    workspace: Settings, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = _import(source)
    kept = manifest(Path(first.path))
    real_write = Path.write_text

    def full_disk(self: Path, data: str, *args: Any, **kwargs: Any) -> int:
        if self.name == "data.yaml" and self.parent.name.startswith("v"):  # the new version's folder
            raise OSError(errno.ENOSPC, "No space left on device", str(self))
        return real_write(self, data, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", full_disk)
    with pytest.raises(PlateOpsError, match="disk holding the workspace is full"):
        _import(source, message="too big")
    monkeypatch.setattr(Path, "write_text", real_write)
    assert _numbers() == [1]
    assert sorted(p.name for p in (workspace.datasets_dir / "food").iterdir()) == ["v1", "v1.dvc"]
    assert manifest(Path(first.path)) == kept
    assert _import(source).number == 2  # the console carries on once there is space


def test_a_failed_import_removes_only_its_own_staging_folder(
    workspace: Settings, source: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _import(source)
    other = workspace.datasets_dir / "food" / ".staging-job-77"  # another job's import, still running
    (other / "images").mkdir(parents=True)
    (other / "images" / "a.jpg").write_bytes(b"x")

    def broken(*_args: Any, **_kwargs: Any) -> str:
        raise VersioningError("dvc add failed: simulated")

    monkeypatch.setattr(dataset_service, "track_version", broken)
    with pytest.raises(VersioningError):
        _import(source, job_id=5)
    dataset_dir = workspace.datasets_dir / "food"
    assert not (dataset_dir / ".staging-job-5").exists() and not (dataset_dir / "v2").exists()
    assert (other / "images" / "a.jpg").read_bytes() == b"x"
    assert _numbers() == [1]


@pytest.fixture
def jobs_ws(workspace: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    monkeypatch.setenv("PLATEOPS_TASK_MODULES", "tests.utils.jobtasks")
    monkeypatch.setenv("PLATEOPS_HEARTBEAT_INTERVAL_S", "0.2")
    monkeypatch.setenv("PLATEOPS_HEARTBEAT_TIMEOUT_S", "60")
    monkeypatch.setenv("PLATEOPS_JOB_CONCURRENCY", '{"test.sleep": 2}')
    get_settings.cache_clear()
    init_db()
    yield get_settings()
    kill_leftover_workers()


def test_two_workers_and_the_console_write_the_store_at_once(jobs_ws: Settings) -> None:
    """Two workers write progress and heartbeats every 0.1-0.2 s while the console creates rows in a loop."""
    jobs = [runner.submit("test.sleep", SleepParams(seconds=4)) for _ in range(2)]
    written: list[int] = []
    errors: list[BaseException] = []

    def console_writes() -> None:
        try:
            for i in range(60):
                with session_scope() as session:
                    written.append(dataset_store.create_dataset(session=session, name=f"d{i}", source="coco").id)
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=console_writes)
    thread.start()
    finished = [runner.wait_for(job_id, timeout_s=180) for job_id in jobs]
    thread.join()
    assert not errors, errors
    assert [job.status for job in finished] == ["succeeded", "succeeded"], [job.error for job in finished]
    assert [job.result for job in finished] == [{"slept": 4.0}] * 2
    with session_scope() as session:
        assert len(dataset_store.list_datasets(session=session)) == len(written) == 60
    with get_engine().connect() as connection:
        assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
