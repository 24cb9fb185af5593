"""The Datasets page's widgets, one module per part: `versions` (picker, header, job cards), `overview`, `quality`,
`gallery` and `import_forms` (one per tab).

`*_ui()` functions draw widgets and return the user's choices; `*_frame()` and `*_chart()` helpers only shape data
for display. All work happens in `backend` (reads) or in background jobs.
"""
