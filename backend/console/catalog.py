"""Job kinds the worker can run. Each task adapts a backend function to the job context (params in, result out).

Imported by the worker through `backend.runtime.runner.get_task`; backend modules are imported inside each task so that
loading the registry stays cheap.
"""

from __future__ import annotations

from typing import Any

from backend.runtime.runner import JobContext, register_task


@register_task("noop")
def noop_task(ctx: JobContext) -> dict[str, Any]:
    """A job that does nothing: checks that workers start (used by the health check on Home)."""
    ctx.progress(1.0, "Nothing to do")
    return {"ok": True}


@register_task("demo_dataset")
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
    )
    return {"version_id": version.id, "dataset_id": version.dataset_id, "images": version.stats.get("images")}


@register_task("import_dataset")
def import_dataset_task(ctx: JobContext) -> dict[str, Any]:
    """Import a COCO or YOLO/Roboflow dataset (folder, json or zip) as a validated version."""
    from pathlib import Path

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
        )
    finally:
        if p.get("delete_source_after"):  # an upload the console saved to a file of its own: never keep it
            Path(p["source"]).unlink(missing_ok=True)
    return {"version_id": version.id, "dataset_id": version.dataset_id, "images": version.stats.get("images")}


@register_task("validate")
def validate_task(ctx: JobContext) -> dict[str, Any]:
    """Run every data-quality check on a dataset version and store the issues."""
    from backend.data.datasets import validate_version

    report = validate_version(int(ctx.params["version_id"]), progress=ctx.progress)
    return {"summary_line": report.summary_line(), "issues": len(report.issues)}


def _register_domain_tasks() -> None:
    """Modules whose tasks register themselves on import."""
    import importlib

    importlib.import_module("backend.training.service")  # registers "train"


_register_domain_tasks()
