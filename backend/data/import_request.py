"""What an import takes, declared once: the Datasets page's form, `start_import`, the import job's params
(`backend.data.tasks.ImportParams`), `import_dataset` and `python -m jobs.import` all pass these models along.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator

from backend.core.params import get_params
from backend.runtime.kinds import JobParams


class ImportOptions(JobParams):
    """How a dataset is imported, whatever the source: its name, the split of a source without one, the notes.

    Attributes:
        name: Dataset name; an existing name gets a new version.
        val_fraction: Share of images for validation when the source has no split (or `fresh_split`); default
            `prepare.val_fraction` of params.yaml.
        seed: Seed of a split that is made; default `prepare.seed`.
        author: Who imported it (shown in the version history); surrounding spaces dropped.
        message: Version note; surrounding spaces dropped. Empty: "Imported from <source>".
        fresh_split: Ignore the source's train / val / test split and split every image anew.
    """

    name: str
    val_fraction: float = Field(default_factory=lambda: get_params().prepare.val_fraction)
    seed: int = Field(default_factory=lambda: get_params().prepare.seed)
    author: str = ""
    message: str = ""
    fresh_split: bool = False

    @field_validator("author", "message")
    @classmethod
    def _strip(cls, value: str) -> str:
        return value.strip()

    def from_source(self, source: Path, images_dir: Path | None = None) -> ImportRequest:
        """These options applied to `source` (and the images folder of a COCO json whose images live elsewhere)."""
        options = self.model_dump(include=set(ImportOptions.model_fields))
        return ImportRequest(source=source, images_dir=images_dir, **options)


class ImportRequest(ImportOptions):
    """One import: what to read and how (`ImportOptions`).

    Attributes:
        source: A .zip, a folder holding any layout `backend.data.formats` reads, or a COCO json file.
        images_dir: The images folder when `source` is a COCO json whose images live elsewhere.
    """

    source: Path
    images_dir: Path | None = None
