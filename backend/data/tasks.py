"""The data domain's background jobs: how to start each (typed `start_*`), what its worker runs, and how a crash
of it is settled.

Kinds: `demo_dataset` (generate the demo set and import it), `import_dataset` (COCO / YOLO / zip import),
`validate` (re-run every data-quality check on a version) and `index_version` (build the index of a version made
before indexes existed). Pages call the `start_*` functions; they never build a
job's parameter dict themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backend.core.access import Actor, Permission
from backend.core.enums import JobKind
from backend.core.errors import BadInputError, cap_message
from backend.core.settings import get_settings
from backend.runtime import runner
from backend.runtime.registry import JobContext, register_task
from backend.store.audit import authorize
from backend.store.records import Job


def start_demo_dataset(
    *, actor: Actor, name: str = "demo-food", images: int = 400, seed: int = 0, defects: bool = False
) -> int:
    """Queue a job that draws the demo food dataset and imports it as a validated version; returns the job id.

    Raises:
        BadInputError: `name` cannot name a dataset.
    """
    from backend.data.datasets import check_dataset_name

    authorize(actor, Permission.IMPORT_DATA, f"demo dataset {name}")
    name = check_dataset_name(name)
    params = {"name": name, "images": int(images), "seed": int(seed), "defects": bool(defects)}
    return runner.submit(JobKind.DEMO_DATASET, params, title=f"Create demo dataset {name} ({int(images)} images)")


IMPORT_REFUSAL = (
    "That path cannot be imported from the console. Upload a .zip instead, or ask an admin to add its folder to "
    "PLATEOPS_IMPORT_ROOTS."
)


def check_import_path(path: Path | str) -> Path:
    """`path` resolved, when it lies inside an import root (the uploads folder or `PLATEOPS_IMPORT_ROOTS`).

    Raises:
        BadInputError: Anywhere else, with one message whatever the path (it reveals nothing about the server's
            files: not whether the path exists, nor what it is).
    """
    try:
        resolved = Path(path).expanduser().resolve()
    except (OSError, RuntimeError, ValueError):
        raise BadInputError(IMPORT_REFUSAL) from None
    if not any(resolved.is_relative_to(root) for root in get_settings().import_root_paths):
        raise BadInputError(IMPORT_REFUSAL)
    return resolved


def start_import(
    source: Path,
    *,
    actor: Actor,
    name: str,
    images_dir: Path | None = None,
    val_fraction: float = 0.2,
    seed: int = 0,
    author: str = "",
    message: str = "",
    delete_source_after: bool = False,
    title: str = "",
    fresh_split: bool = False,
) -> int:
    """Queue the import of a dataset (folder, json or zip, any layout `formats` reads) as a new version; returns the
    job id.

    Args:
        source: A .zip, a folder holding a COCO json + images or a data.yaml, or a COCO json file, on the server,
            inside an import root (`check_import_path`).
        name: Dataset name; an existing name gets a new version.
        images_dir: The images folder when `source` is a COCO json whose images live elsewhere.
        val_fraction: Share of images for validation when the source has no split.
        seed: Seed of the split.
        author: Who imported it (shown in the version history).
        message: Version note.
        delete_source_after: Delete `source` when the job ends (an upload the console saved to a file of its own).
        title: The job's title; default "Import <source> as <name>".
        fresh_split: Ignore the source's train / val / test split and split every image anew.

    Raises:
        BadInputError: `name` cannot name a dataset.
    """
    from backend.data.datasets import check_dataset_name

    authorize(actor, Permission.IMPORT_DATA, f"import as {cap_message(name, 80)}")
    name = check_dataset_name(name)
    source = check_import_path(source)
    images_dir = check_import_path(images_dir) if images_dir is not None else None
    params: dict[str, Any] = {
        "source": str(source),
        "name": name,
        "val_fraction": float(val_fraction),
        "seed": int(seed),
        "author": author.strip(),
        "message": message.strip(),
        "delete_source_after": bool(delete_source_after),
        "fresh_split": bool(fresh_split),
    }
    if images_dir is not None:
        params["images_dir"] = str(images_dir)
    return runner.submit(JobKind.IMPORT_DATASET, params, title=title or f"Import {Path(source).name} as {name}")


def start_validation(version_id: int, *, actor: Actor, title: str = "") -> int:
    """Queue a job that re-runs every data-quality check on a dataset version; returns the job id."""
    authorize(actor, Permission.VALIDATE_DATA, f"dataset version {version_id}")
    return runner.submit(
        JobKind.VALIDATE, {"version_id": int(version_id)}, title=title or f"Validate dataset version {version_id}"
    )


def start_index_version(version_id: int) -> int:
    """Queue the job that builds a version's index (for a version made before indexes existed); returns its id.

    Idempotent: while a job is already building this version's index, that job's id is returned instead.
    """
    from backend.runtime.views import get_job
    from backend.store import dataset_index as index_store
    from backend.store.engine import session_scope

    with session_scope() as session:
        state = index_store.get_state(session=session, version_id=version_id)
    building = state is not None and state.status == index_store.IndexStatus.BUILDING
    if building and state is not None and state.job_id is not None and get_job(state.job_id).active:
        return state.job_id
    job_id = runner.submit(
        JobKind.INDEX_VERSION, {"version_id": int(version_id)}, title=f"Index dataset version {version_id}"
    )
    with session_scope() as session:
        index_store.mark_building(session=session, version_id=version_id, job_id=job_id)
    return job_id


# --- job bodies (run in the worker) and their crash recovery (run by the runner) ----------------------------------


def recover_import(job: Job) -> None:
    """After a killed import or demo job: remove its staging, unpacked and drawn folders and any version it left
    half-made (one not yet validated), so a retry starts clean."""
    from backend.data.datasets import discard_job_leftovers

    discard_job_leftovers(job.id, name=str(job.params.get("name", "")))
    if job.kind == JobKind.IMPORT_DATASET and job.params.get("delete_source_after"):
        Path(str(job.params["source"])).unlink(missing_ok=True)  # an upload of its own: never keep it


def recover_validation(job: Job) -> None:
    """After a killed validation: nothing to undo. The version's result is replaced in one transaction at the
    end, so the previous result stays in place until a validation finishes."""
    del job


@register_task(JobKind.DEMO_DATASET, recover=recover_import)
def demo_dataset_task(ctx: JobContext) -> dict[str, Any]:
    """Generate the demo food dataset and import it as a validated version."""
    from backend.data.datasets import create_demo_dataset

    p = ctx.params
    version = create_demo_dataset(
        name=p.get("name", "demo-food"),
        images=int(p.get("images", 400)),
        seed=int(p.get("seed", 0)),
        defects=bool(p.get("defects", False)),
        progress=ctx.progress,
        job_id=ctx.job_id,
    )
    return {"version_id": version.id, "dataset_id": version.dataset_id, "images": version.stats.get("images")}


@register_task(JobKind.IMPORT_DATASET, recover=recover_import)
def import_dataset_task(ctx: JobContext) -> dict[str, Any]:
    """Import a COCO or YOLO/Roboflow dataset (folder, json or zip) as a validated version."""
    from backend.data.datasets import import_dataset

    p = ctx.params
    try:
        version = import_dataset(
            Path(p["source"]),
            name=p["name"],
            images_dir=Path(p["images_dir"]) if p.get("images_dir") else None,
            val_fraction=float(p.get("val_fraction", 0.2)),
            seed=int(p.get("seed", 0)),
            author=p.get("author", ""),
            message=p.get("message", ""),
            progress=ctx.progress,
            job_id=ctx.job_id,
            fresh_split=bool(p.get("fresh_split", False)),
        )
    finally:
        if p.get("delete_source_after"):  # an upload the console saved to a file of its own: never keep it
            Path(p["source"]).unlink(missing_ok=True)
    return {"version_id": version.id, "dataset_id": version.dataset_id, "images": version.stats.get("images")}


@register_task(JobKind.VALIDATE, recover=recover_validation)
def validate_task(ctx: JobContext) -> dict[str, Any]:
    """Run every data-quality check on a dataset version and store the issues."""
    from backend.data.datasets import validate_version

    report = validate_version(int(ctx.params["version_id"]), progress=ctx.progress)
    return {"summary_line": report.summary_line(), "issues": len(report.issues)}


def recover_index(job: Job) -> None:
    """After a killed index job: mark that version's index failed (with the reason), so the page can start a new
    build; a half-written index never shows, because it is replaced in one transaction at the end."""
    from backend.store import dataset_index as index_store
    from backend.store.engine import session_scope

    version_id = int(job.params.get("version_id", 0))
    with session_scope() as session:
        state = index_store.get_state(session=session, version_id=version_id)
        if state is not None and state.status == index_store.IndexStatus.BUILDING and state.job_id == job.id:
            index_store.mark_failed(session=session, version_id=version_id, message=job.error or "The job stopped.")


@register_task(JobKind.INDEX_VERSION, recover=recover_index)
def index_version_task(ctx: JobContext) -> dict[str, Any]:
    """Read a version's folder once into the store's index (images, boxes, chart summary)."""
    from backend.data.index import build_version_index

    state = build_version_index(int(ctx.params["version_id"]), progress=ctx.progress, job_id=ctx.job_id)
    return {"version_id": state.version_id, "images": state.images, "boxes": state.boxes}
