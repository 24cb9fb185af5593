"""Data-quality validation of a prepared YOLO dataset.

The package owns the data-quality checks and everything they need: `reader` reads a YOLO dataset folder,
`measurements` decodes and measures each image (sizes, grey-level spread, perceptual hash, brightness, sharpness,
colour, entropy), `cache` keeps those measurements and label-check results in a small SQLite file so unchanged
files are not read again, `checks` defines every check once (`Check`, `Severity`, `CHECKS`) and applies them,
`report` is the `ValidationReport` that `jobs.validate` writes, and `validate` runs it all (`validate_dataset`).

The names below are re-exported so `from backend.data.quality import validate_dataset` keeps working; new code
imports from the submodule that owns a name.
"""

from backend.data.quality.checks import CHECKS, SEVERITY_RANK, Check, CheckInfo, Issue, IssueCollector, Severity
from backend.data.quality.measurements import Measurements, measure_bytes, phash_of, probe_images
from backend.data.quality.reader import (
    DatasetImage,
    YoloDataset,
    label_path_for,
    list_images,
    load_data_yaml,
    parse_names,
    parse_yolo_line,
    read_yolo_dataset,
    resolve_split_dirs,
)
from backend.data.quality.report import ValidationReport
from backend.data.quality.validate import validate_dataset

__all__ = [
    "CHECKS",
    "SEVERITY_RANK",
    "Check",
    "CheckInfo",
    "DatasetImage",
    "Issue",
    "IssueCollector",
    "Measurements",
    "Severity",
    "ValidationReport",
    "YoloDataset",
    "label_path_for",
    "list_images",
    "load_data_yaml",
    "measure_bytes",
    "parse_names",
    "parse_yolo_line",
    "phash_of",
    "probe_images",
    "read_yolo_dataset",
    "resolve_split_dirs",
    "validate_dataset",
]
