"""The Import tab: upload, server-path and demo-dataset forms, and the live progress of the import job."""

from __future__ import annotations

import streamlit as st

from backend.core.params import get_params
from backend.data.datasets import (
    check_dataset_name,
    check_import_source,
    save_upload,
)
from backend.data.import_request import ImportOptions, ImportRequest
from backend.data.tasks import start_demo_dataset, start_import
from ui.datasets.versions import remember_job, remembered_job, watch_job
from ui.widgets.calls import call
from ui.widgets.shell import current_actor

# --- import ---------------------------------------------------------------------------------------------------

SOURCES = {
    "upload": "Upload a .zip",
    "server": "A folder or file on the server",
    "demo": "Demo food dataset",
}


def import_ui() -> None:
    """Import forms (upload, server path, demo) and the live progress of the job this session started."""
    source = (
        st.segmented_control(
            "Where is the data?", list(SOURCES), format_func=SOURCES.get, default="upload", key="ds_import_source"
        )
        or "upload"
    )
    if source == "upload":
        _upload_form()
    elif source == "server":
        _server_form()
    else:
        _demo_form()
    job_id = remembered_job("import")
    if job_id is not None:
        watch_job(job_id, key="ds-import")


def _common_fields(prefix: str, default_name: str = "") -> ImportOptions:
    """Name, validation share, seed, author, message and fresh split, inside the current form."""
    c1, c2, c3 = st.columns([3, 2, 1])
    name = c1.text_input(
        "Dataset name",
        value=default_name,
        key=f"{prefix}_name",
        placeholder="e.g. lunch-photos",
        help="Letters, digits, '.', '_' or '-'. An existing name gets a new version.",
    )
    val_fraction = c2.slider(
        "Validation share",
        0.05,
        0.5,
        get_params().prepare.val_fraction,
        step=0.05,
        key=f"{prefix}_val",
        help="Share of images kept for validation when the source has no split",
    )
    seed = c3.number_input(
        "Seed", 0, 1_000_000, get_params().prepare.seed, key=f"{prefix}_seed", help="Same seed, same split"
    )
    c4, c5 = st.columns([1, 2])
    author = c4.text_input("Your name", key=f"{prefix}_author", placeholder="shown in the version history")
    message = c5.text_input("Version note", key=f"{prefix}_message", placeholder="e.g. lunch photos from March")
    fresh_split = st.checkbox(
        "Split anew",
        key=f"{prefix}_fresh_split",
        help="Ignore the export's own train / val / test split and split every image with the share and seed above "
        "(by default the export's splits are kept as given).",
    )
    return ImportOptions(
        name=name,
        val_fraction=float(val_fraction),
        seed=int(seed),
        author=author,
        message=message,
        fresh_split=bool(fresh_split),
    )


def _submit_import(request: ImportRequest, *, title: str, upload: bool = False) -> None:
    job_id = call(
        start_import,
        request,
        actor=current_actor(),
        delete_source_after=upload,
        title=title,
        action="Starting the import",
    )
    if job_id is not None:
        remember_job("import", job_id)
        st.toast(f"Import started (job {job_id}).")


def _upload_form() -> None:
    with st.form("ds_upload_form", border=True):
        st.caption(
            "A .zip exported from Roboflow, CVAT, Label Studio, LabelImg or FiftyOne: COCO (one .json, or one per "
            "split), YOLO (data.yaml, classes.txt or obj.names) or Pascal VOC (xml). Splits are kept as given."
        )
        upload = st.file_uploader("Dataset archive", type=["zip"], key="ds_upload_file")
        options = _common_fields("ds_upload")
        submitted = st.form_submit_button("Import", type="primary", key="ds_upload_submit", icon="📤")
    if not submitted:
        return
    name = call(check_dataset_name, options.name, action="Importing")
    if name is None:
        return
    if upload is None:
        st.error("Choose a .zip file to upload first.")
        return
    saved = call(save_upload, upload, upload.name, actor=current_actor(), action="Saving the upload")
    if saved is None:
        return
    request = options.model_copy(update={"name": name}).from_source(saved)
    _submit_import(request, title=f"Import {upload.name} as {name}", upload=True)


def _server_form() -> None:
    with st.form("ds_server_form", border=True):
        st.caption(
            "A path the server can read: a folder or .zip in any layout the upload takes (COCO, YOLO, "
            "Label Studio, CVAT, Pascal VOC, FiftyOne), or a COCO .json file, inside a folder an admin allowed "
            "(PLATEOPS_IMPORT_ROOTS)."
        )

        source = st.text_input("Path on the server", key="ds_server_path", placeholder="/data/lunch/annotations.json")
        images_dir = st.text_input(
            "Images folder (only for a COCO .json whose images live elsewhere)", key="ds_server_images"
        )
        options = _common_fields("ds_server")
        submitted = st.form_submit_button("Import", type="primary", key="ds_server_submit", icon="📥")
    if not submitted:
        return
    name = call(check_dataset_name, options.name, action="Importing")
    if name is None:
        return
    paths = call(check_import_source, source, images_dir, action="Importing")
    if paths is None:
        return
    path, images = paths
    request = options.model_copy(update={"name": name}).from_source(path, images)
    _submit_import(request, title=f"Import {path.name} as {name}")


def _demo_form() -> None:
    with st.form("ds_demo_form", border=True):
        st.caption(
            "Procedural photos of plates with the twelve PlateOps foods, boxes included — for trying things "
            "out. Planted defects show what the quality checks catch."
        )
        c1, c2, c3, c4 = st.columns([2, 2, 1, 2], vertical_alignment="bottom")
        name = c1.text_input("Dataset name", value="demo-food", key="ds_demo_name")
        images = c2.number_input("Images", 10, 5000, 200, step=10, key="ds_demo_images")
        seed = c3.number_input("Seed", 0, 1_000_000, get_params().demo.seed, key="ds_demo_seed")
        defects = c4.checkbox(
            "Plant defects",
            value=True,
            key="ds_demo_defects",
            help="A few broken, blank, duplicate or badly boxed images",
        )
        submitted = st.form_submit_button("Create demo dataset", type="primary", key="ds_demo_submit", icon="✨")
    if not submitted:
        return
    checked = call(check_dataset_name, name, action="Creating the demo dataset")
    if checked is None:
        return
    job_id = call(
        start_demo_dataset,
        actor=current_actor(),
        name=checked,
        images=int(images),
        seed=int(seed),
        defects=bool(defects),
        action="Starting the demo dataset",
    )
    if job_id is not None:
        remember_job("import", job_id)
        st.toast(f"Demo dataset started (job {job_id}).")
