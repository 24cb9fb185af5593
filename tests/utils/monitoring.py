"""A workspace with something to monitor: a dataset version, a tiny model trained "on" it, logged traffic, reports.

Used by the monitoring service tests, the Monitor page AppTest and the Monitor browser test. The model is the
untrained YOLOv8n of `tests.utils.tiny_data` (it finds nothing at the serving confidence, so the image properties
carry the drift), registered as a finished run whose dataset version is the reference.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

from backend.monitoring.traffic import generate_traffic, send_traffic
from backend.store import datasets as dataset_store
from backend.store import runs as run_store
from backend.store.engine import session_scope
from backend.store.records import Run
from tests.utils.serving_models import add_finished_run
from tests.utils.shared import TinyModels, build_once, shared_root

FILE_LIST = "files.txt"


def simulated_traffic(shift: str, *, images: int, seed: int, out_dir: Path) -> list[Path]:
    """`generate_traffic`'s pictures copied into `out_dir`, in its order. The same shift, count and seed always give
    the same pictures, so each batch is drawn once per test run and copied from there."""

    def draw(folder: Path) -> None:
        batch = generate_traffic(shift, images=images, out_dir=folder, seed=seed, workers=1)
        (folder / FILE_LIST).write_text("\n".join(p.name for p in batch.files), encoding="utf-8")

    drawn = build_once(shared_root(), f"traffic-{shift}-{images}-{seed}", draw)
    out_dir.mkdir(parents=True, exist_ok=True)
    files = []
    for name in (drawn / FILE_LIST).read_text(encoding="utf-8").split("\n"):
        files.append(Path(shutil.copy2(drawn / name, out_dir / name)))
    return files


def add_monitored_model(scratch: Path, *, reference_images: int = 60, seed: int = 100) -> Run:
    """A dataset version of clean demo pictures plus a finished run on it with tiny weights (the serving model)."""
    from backend.core.settings import get_settings

    version_dir = get_settings().datasets_dir / "monitored" / "v1"
    simulated_traffic("none", images=reference_images, seed=seed, out_dir=version_dir / "images" / "train")
    with session_scope() as session:
        dataset = dataset_store.create_dataset(session=session, name="monitored", source="demo")
        version = dataset_store.create_version(session=session, dataset_id=dataset.id, path=str(version_dir))
    del scratch  # callers give a scratch folder; the shared weights are copied into the run folder instead
    run = add_finished_run(TinyModels(shared_root()).untrained(imgsz=64), name="monitored-run")
    with session_scope() as session:
        return run_store.update_run(
            session=session, run_id=run.id, changes=run_store.RunUpdate(dataset_version_id=version.id)
        )


def send_shifted(scratch: Path, batches: Sequence[tuple[str, int, int]]) -> list[int]:
    """Send (shift, images, seed) batches of simulated traffic through the serving model; returns the prediction ids."""
    ids: list[int] = []
    for shift, images, seed in batches:
        ids += send_traffic(simulated_traffic(shift, images=images, seed=seed, out_dir=scratch / f"{shift}-{seed}"))
    return ids
