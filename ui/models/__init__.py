"""The Models page's widgets: `table` (every run, filterable), `compare` (two or more runs side by side) and
`registry` (promotion gate, rollback, ONNX export, model history).

`*_ui()` functions draw widgets and return the user's choices; the work is in `backend.registry`.
"""
