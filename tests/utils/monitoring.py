"""A workspace with something to monitor: a dataset version, a tiny model trained "on" it, logged traffic, reports.

Used by the monitoring service tests, the Monitor page AppTest and the Monitor browser test. The model is the
untrained YOLOv8n of `tests.utils.tiny_data` (it finds nothing at the serving confidence, so the image properties
carry the drift), registered as a finished run whose dataset version is the reference.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from backend.monitoring.traffic import generate_traffic, send_traffic
from backend.store import datasets as dataset_store
from backend.store import runs as run_store
from backend.store.engine import session_scope
from backend.store.records import Run
from tests.utils.serving_models import add_finished_run
from tests.utils.tiny_data import save_untrained_detector


def add_monitored_model(scratch: Path, *, reference_images: int = 60, seed: int = 100) -> Run:
    """A dataset version of clean demo pictures plus a finished run on it with tiny weights (the serving model)."""
    from backend.core.settings import get_settings

    version_dir = get_settings().datasets_dir / "monitored" / "v1"
    generate_traffic("none", images=reference_images, out_dir=version_dir / "images" / "train", seed=seed, workers=1)
    with session_scope() as session:
        dataset = dataset_store.create_dataset(session=session, name="monitored", source="demo")
        version = dataset_store.create_version(session=session, dataset_id=dataset.id, path=str(version_dir))
    run = add_finished_run(save_untrained_detector(scratch / "untrained.pt", imgsz=64), name="monitored-run")
    with session_scope() as session:
        return run_store.update_run(
            session=session, run_id=run.id, changes=run_store.RunUpdate(dataset_version_id=version.id)
        )


def send_shifted(scratch: Path, batches: Sequence[tuple[str, int, int]]) -> list[int]:
    """Send (shift, images, seed) batches of simulated traffic through the serving model; returns the prediction ids."""
    ids: list[int] = []
    for shift, images, seed in batches:
        batch = generate_traffic(shift, images=images, out_dir=scratch / f"{shift}-{seed}", seed=seed, workers=1)
        ids += send_traffic(batch.files)
    return ids
