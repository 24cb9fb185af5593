"""Dataset formats other tools write and read: layout detection, faithful readers and zip exporters.

Owns the interchange with Roboflow, Label Studio, CVAT, LabelImg / Pascal VOC and FiftyOne exports:

- `detect`: which layout a folder holds (named in the pre-flight report).
- `coco`, `yolo`, `voc`: readers that turn a layout into a `SourceDataset` (images, splits, boxes, and every
  image, box or category they leave out, with its reason).
- `build`: writes a `SourceDataset` as the prepared YOLO layout with `prepare_report.json`.
- `export`: writes a prepared version back out as COCO, YOLO or Pascal VOC, as a zip.

`read_source` and `import_source` are the entry points the import service uses.
"""

from backend.data.formats.model import DetectedLayout, ExportFormat, LayoutKind, SourceDataset

__all__ = ["DetectedLayout", "ExportFormat", "LayoutKind", "SourceDataset"]
