"""The Detect page's widgets: `detection` (model, thresholds, pictures, one picture's result), `feedback` and
`recipes`.

`*_ui()` functions draw widgets and return the user's choices. All work is in `backend.serving.service` (detect, log,
feedback) and `backend.serving.recipes` (ranking). The detector is cached per weights file and modification time.
"""
