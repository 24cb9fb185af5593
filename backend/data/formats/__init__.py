"""Dataset formats other tools write and read: layout detection, faithful readers and zip exporters.

Owns the interchange with Roboflow, Label Studio, CVAT, LabelImg / Pascal VOC and FiftyOne exports:

- `detect`: which layout a folder holds (named in the pre-flight report).
- `coco`, `yolo`, `voc`: readers that turn a layout into a `SourceDataset` (images, splits, boxes, and every
  image, box or category they leave out, with its reason); `coco` also holds the class-id rule.
- `build`: checks a `SourceDataset`'s images and boxes and splits it (`prepare_source`).
- `prepared`: the one writer of the prepared YOLO layout and its `prepare_report.json` (`PrepareResult`).
- `convert`: `prepare_coco` and `prepare_yolo`, a reader plus `prepare_source` for `jobs.prepare` and dvc.yaml.
- `export`: writes a prepared version back out as COCO, YOLO or Pascal VOC, as a zip.

`read.read_source` / `read.find_layout` + `read.read_layout`, then `build.prepare_source`, is the import service's
path; `convert` is the same path for a COCO json or YOLO export named directly. There is no other importer.
"""

from backend.data.formats.model import DetectedLayout, ExportFormat, LayoutKind, SourceDataset

__all__ = ["DetectedLayout", "ExportFormat", "LayoutKind", "SourceDataset"]
