"""The Train page's widgets: `setup` (data, settings, estimate), `progress` (one job live, its results and
tracking) and `runs` (the recent runs table).

`*_ui()` functions draw widgets and return the user's choices; `*_frame()` helpers only shape data for display. All
work happens in `backend.training.service` (reads, launch, resume) or in the training job itself.
"""
