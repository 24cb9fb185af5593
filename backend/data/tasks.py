"""The data domain's background jobs: the typed params of each, how to start each (one `start_*` per kind), what
its worker runs, and how a crash of it is settled.

Kinds: `demo_dataset` (generate the demo set and import it), `import_dataset` (COCO / YOLO / zip import),
`validate` (re-run every data-quality check on a version) and `index_version` (build the index of a version made
before indexes existed). Pages call the `start_*` functions; they never build a job's parameters themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from backend.core.access import Actor, Permission
from backend.core.enums import JobKind
from backend.core.errors import BadInputError, NotFoundError, cap_message
from backend.core.limits import TextKind, require_within
from backend.core.params import get_params
from backend.core.settings import get_settings
from backend.data.import_request import ImportRequest
from backend.runtime import runner
from backend.runtime.kinds import JobContext, JobParams, register_task
from backend.store import datasets as dataset_store
from backend.store.audit import authorize
from backend.store.engine import session_scope
from backend.store.records import Job


class DemoDatasetParams(JobParams):
    """A `demo_dataset` job: the dataset's name, how many images to draw, the seed, whether to plant defects."""

    name: str = "demo-food"
    images: int = 400
    seed: int = 0
    defects: bool = False


class ImportParams(ImportRequest):
    """An `import_dataset` job: the import (`ImportRequest`) and whether its source is deleted when the job ends
    (`delete_source_after`: an upload the console saved to a file of its own)."""

    delete_source_after: bool = False


class ValidateParams(JobParams):
    """A `validate` job: the dataset version whose data-quality checks run again."""

    version_id: int


class IndexVersionParams(JobParams):
    """An `index_version` job: the dataset version whose index is built."""

    version_id: int


def start_demo_dataset(
    *, actor: Actor, name: str = "demo-food", images: int | None = None, seed: int | None = None, defects: bool = False
) -> int:
    """Queue a job that draws the demo food dataset and imports it as a validated version; returns the job id.

    `images` and `seed` default to the `demo` section of params.yaml.

    Raises:
        BadInputError: `name` cannot name a dataset.
    """
    from backend.data.datasets import check_dataset_name

    authorize(actor, Permission.IMPORT_DATA, f"demo dataset {name}")
    demo = get_params().demo
    params = DemoDatasetParams(
        name=check_dataset_name(name),
        images=demo.images if images is None else images,
        seed=demo.seed if seed is None else seed,
        defects=defects,
    )
    title = f"Create demo dataset {params.name} ({params.images} images)"
    return runner.submit(JobKind.DEMO_DATASET, params, title=title)


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


def start_import(request: ImportRequest, *, actor: Actor, delete_source_after: bool = False, title: str = "") -> int:
    """Queue the import of a dataset (folder, json or zip, any layout `formats` reads) as a new version; returns the
    job id.

    Args:
        request: What to import and how. Its `source` (and `images_dir`) must lie on the server inside an import
            root (`check_import_path`).
        actor: Who asks (needs the import permission).
        delete_source_after: Delete `source` when the job ends (an upload the console saved to a file of its own).
        title: The job's title; default "Import <source> as <name>".

    Raises:
        AccessDeniedError: The actor may not import.
        BadInputError: The name cannot name a dataset, or a path lies outside the import roots.
    """
    from backend.data.datasets import check_dataset_name

    authorize(actor, Permission.IMPORT_DATA, f"import as {cap_message(request.name, 80)}")
    require_within(TextKind.VERSION_MESSAGE, request.message)  # refused now, not when the job records the version
    params = ImportParams(
        **request.model_dump(exclude={"name", "source", "images_dir", "delete_source_after"}),
        name=check_dataset_name(request.name),
        source=check_import_path(request.source),
        images_dir=check_import_path(request.images_dir) if request.images_dir is not None else None,
        delete_source_after=delete_source_after,
    )
    return runner.submit(JobKind.IMPORT_DATASET, params, title=title or f"Import {params.source.name} as {params.name}")


def version_title(version_id: int) -> str:
    """How job titles name a dataset version: its dataset and label ("lunch v2"), as every page shows it; the
    bare id only when the version is gone."""
    try:
        with session_scope() as session:
            version = dataset_store.get_version(session=session, version_id=version_id)
            dataset = dataset_store.get_dataset(session=session, dataset_id=version.dataset_id)
    except NotFoundError:
        return f"dataset version #{version_id}"
    return f"{dataset.name} {version.label}"


def start_validation(version_id: int, *, actor: Actor, title: str = "") -> int:
    """Queue a job that re-runs every data-quality check on a dataset version; returns the job id.

    Args:
        version_id: The dataset version to check.
        actor: Who asks (needs the validate permission).
        title: The job's title; default "Validate <dataset> <label>".
    """
    authorize(actor, Permission.VALIDATE_DATA, f"dataset version {version_id}")
    params = ValidateParams(version_id=version_id)
    return runner.submit(JobKind.VALIDATE, params, title=title or f"Validate {version_title(version_id)}")


def start_index_version(version_id: int, *, actor: Actor) -> int:
    """Queue the job that builds a version's index (for a version made before indexes existed); returns its id.

    Idempotent: while a job is already building this version's index, that job's id is returned instead.

    Raises:
        AccessDeniedError: The actor may not validate data (the index is built from reading every file).
    """
    authorize(actor, Permission.VALIDATE_DATA, f"index dataset version {version_id}")
    from backend.runtime.views import get_job
    from backend.store import dataset_index as index_store

    with session_scope() as session:
        state = index_store.get_state(session=session, version_id=version_id)
    building = state is not None and state.status == index_store.IndexStatus.BUILDING
    if building and state is not None and state.job_id is not None and get_job(state.job_id).active:
        return state.job_id
    params = IndexVersionParams(version_id=version_id)
    job_id = runner.submit(JobKind.INDEX_VERSION, params, title=f"Index {version_title(version_id)}")
    with session_scope() as session:
        index_store.mark_building(session=session, version_id=version_id, job_id=job_id)
    return job_id


# --- job bodies (run in the worker) and their crash recovery (run by the runner) ----------------------------------


def recover_import(job: Job, params: DemoDatasetParams | ImportParams) -> None:
    """After a killed import or demo job: remove its staging, unpacked and drawn folders and any version it left
    half-made (one not yet validated), so a retry starts clean."""
    from backend.data.datasets import discard_job_leftovers

    discard_job_leftovers(job.id, name=params.name)
    if isinstance(params, ImportParams) and params.delete_source_after:
        params.source.unlink(missing_ok=True)  # an upload of its own: never keep it


def recover_validation(job: Job, params: ValidateParams) -> None:
    """After a killed validation: nothing to undo. The version's result is replaced in one transaction at the
    end, so the previous result stays in place until a validation finishes."""
    del job, params


@register_task(JobKind.DEMO_DATASET, params=DemoDatasetParams, recover=recover_import)
def demo_dataset_task(ctx: JobContext[DemoDatasetParams]) -> dict[str, Any]:
    """Generate the demo food dataset and import it as a validated version."""
    from backend.data.datasets import create_demo_dataset

    p = ctx.params
    version = create_demo_dataset(
        name=p.name, images=p.images, seed=p.seed, defects=p.defects, progress=ctx.progress, job_id=ctx.job_id
    )
    return {"version_id": version.id, "dataset_id": version.dataset_id, "images": version.stats.get("images")}


@register_task(JobKind.IMPORT_DATASET, params=ImportParams, recover=recover_import)
def import_dataset_task(ctx: JobContext[ImportParams]) -> dict[str, Any]:
    """Import a COCO or YOLO/Roboflow dataset (folder, json or zip) as a validated version."""
    from backend.data.datasets import import_dataset

    p = ctx.params
    try:
        # Checked again now, not only when queued: the folder may have been swapped for a link since.
        params = p.model_copy(
            update={
                "source": check_import_path(p.source),
                "images_dir": check_import_path(p.images_dir) if p.images_dir is not None else None,
            }
        )
        roots = tuple(get_settings().import_root_paths)
        version = import_dataset(params, progress=ctx.progress, job_id=ctx.job_id, confine_to=roots)
    finally:
        if ctx.params.delete_source_after:  # an upload the console saved to a file of its own: never keep it
            ctx.params.source.unlink(missing_ok=True)
    return {"version_id": version.id, "dataset_id": version.dataset_id, "images": version.stats.get("images")}


@register_task(JobKind.VALIDATE, params=ValidateParams, recover=recover_validation)
def validate_task(ctx: JobContext[ValidateParams]) -> dict[str, Any]:
    """Run every data-quality check on a dataset version and store the issues."""
    from backend.data.datasets import validate_version

    report = validate_version(ctx.params.version_id, progress=ctx.progress)
    return {"summary_line": report.summary_line(), "issues": len(report.issues)}


def recover_index(job: Job, params: IndexVersionParams) -> None:
    """After a killed index job: mark that version's index failed (with the reason), so the page can start a new
    build; a half-written index never shows, because it is replaced in one transaction at the end."""
    from backend.store import dataset_index as index_store

    version_id = params.version_id
    with session_scope() as session:
        state = index_store.get_state(session=session, version_id=version_id)
        if state is not None and state.status == index_store.IndexStatus.BUILDING and state.job_id == job.id:
            index_store.mark_failed(session=session, version_id=version_id, message=job.error or "The job stopped.")


@register_task(JobKind.INDEX_VERSION, params=IndexVersionParams, recover=recover_index)
def index_version_task(ctx: JobContext[IndexVersionParams]) -> dict[str, Any]:
    """Read a version's folder once into the store's index (images, boxes, chart summary)."""
    from backend.data.index import build_version_index

    state = build_version_index(ctx.params.version_id, progress=ctx.progress, job_id=ctx.job_id)
    return {"version_id": state.version_id, "images": state.images, "boxes": state.boxes}
