"""The Quality tab: the validation verdict, issues per check, a filterable issue table and the review hand-off."""

from __future__ import annotations

import altair as alt
import pandas as pd
import streamlit as st

from backend.core.enums import ValidationStatus
from backend.data.datasets import (
    check_descriptions,
    send_to_review,
)
from backend.data.index import IssuePage, issue_facets, issue_page, issue_reasons
from backend.data.tasks import start_validation
from backend.store.dataset_index import IssueQuery
from backend.store.records import DatasetVersion
from ui.datasets.versions import remember_job, remembered_job, watch_job
from ui.widgets.calls import call
from ui.widgets.charts import show_chart, table_height
from ui.widgets.quality import SEVERITY_COLORS, SEVERITY_ICONS
from ui.widgets.shell import current_actor
from ui.widgets.text import plural

VERDICTS = {
    ValidationStatus.PASSED: ":green[✅] **Every image passed every check.**",
    ValidationStatus.WARNINGS: ":orange[⚠️] **Some images deserve a look** — training works, but may learn less.",
    ValidationStatus.ERRORS: ":red[⛔] **Some images have errors** — fix or remove them before training.",
    ValidationStatus.NOT_CHECKED: ":gray[❔] **Not validated yet.**",
}


# --- quality --------------------------------------------------------------------------------------------------


ISSUE_PAGE_SIZE = 200


def issue_frame(page: IssuePage) -> pd.DataFrame:
    """One row per issue of the page: file, split, check, severity, message."""
    rows = [
        {"file": i.file, "split": i.split, "check": i.check, "severity": i.severity, "message": i.message}
        for i in page.lines
    ]
    return pd.DataFrame(rows, columns=["file", "split", "check", "severity", "message"])


def quality_ui(version: DatasetVersion) -> None:
    """Validation summary, what each check means, a filterable issue table, revalidation and review hand-off."""
    summary = version.validation
    by_sev = summary.by_severity
    top, action = st.columns([4, 1], vertical_alignment="bottom")
    with top:
        st.markdown(VERDICTS.get(version.validation_status, version.validation_status))
        line = summary_line(version)
        if line:
            st.caption(line)
    with action:
        validate_clicked = st.button(
            "Validate again", key="ds_validate", icon="🔄", help="Re-run every data-quality check"
        )
    if validate_clicked:
        job_id = call(
            start_validation,
            version.id,
            actor=current_actor(),
            title=f"Validate {version.label}",
            action="Starting validation",
        )
        if job_id is not None:
            remember_job(f"validate-{version.id}", job_id)
            st.toast(f"Validation started (job {job_id}).")
    job_id = remembered_job(f"validate-{version.id}")
    if job_id is not None:
        watch_job(job_id, key=f"ds-validate-{version.id}")

    c1, c2, c3 = st.columns(3)
    c1.metric(f"{SEVERITY_ICONS['error']} Errors", by_sev.error, help="Fix these before training")
    c2.metric(f"{SEVERITY_ICONS['warning']} Warnings", by_sev.warning, help="Worth a look")
    c3.metric(f"{SEVERITY_ICONS['info']} Notes", by_sev.info, help="Things the import did for you")

    descriptions = {str(check): info for check, info in check_descriptions().items()}
    by_check = summary.issues_by_check
    if by_check:
        frame = pd.DataFrame(
            [
                {
                    "check": c,
                    "issues": n,
                    "severity": str(descriptions[c].severity) if c in descriptions else "warning",
                    "meaning": descriptions[c].description if c in descriptions else "",
                }
                for c, n in by_check.items()
                if n
            ]
        )
        if not frame.empty:
            show_chart(check_chart(frame))
    with st.expander("What each check looks for", expanded=not by_check):
        rows = [
            {
                "check": c,
                "severity": str(info.severity),
                "found here": by_check.get(c, 0),
                "what it means": info.description,
            }
            for c, info in descriptions.items()
        ]
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", height=table_height(len(rows)))

    st.subheader("Issues")
    if not sum(by_check.values()):
        if version.validation_status == ValidationStatus.NOT_CHECKED:
            st.info("This version has not been validated yet. Press **Validate again** to check it.")
        else:
            st.success("No issues found: every image passed every check.")
        return
    query = issue_filters_ui(version)
    wanted = max(1, int(st.session_state.get("ds_issue_page", 1)))
    shown = call(
        issue_page,
        version.id,
        query,
        offset=(wanted - 1) * ISSUE_PAGE_SIZE,
        limit=ISSUE_PAGE_SIZE,
        action="Reading issues",
    )
    if shown is None:
        return
    pages = max(1, -(-shown.total // ISSUE_PAGE_SIZE))
    if wanted > pages:  # the filters shrank the table: show its last page
        st.session_state["ds_issue_page"] = wanted = pages
        shown = call(
            issue_page,
            version.id,
            query,
            offset=(pages - 1) * ISSUE_PAGE_SIZE,
            limit=ISSUE_PAGE_SIZE,
            action="Reading issues",
        )
        if shown is None:
            return
    info, pager = st.columns([4, 1], vertical_alignment="bottom")
    pager.number_input(f"Page (of {pages})", min_value=1, max_value=pages, step=1, key="ds_issue_page")
    offset = (wanted - 1) * ISSUE_PAGE_SIZE
    info.caption(
        f"{shown.total} issues match, in {shown.images} images; showing {offset + 1}–{offset + len(shown.lines)}."
    )
    st.dataframe(
        issue_frame(shown),
        hide_index=True,
        width="stretch",
        column_config={"message": st.column_config.TextColumn("message", width="large")},
    )
    review_ui(version, query, shown.images)


def summary_line(version: DatasetVersion) -> str:
    """'42 images checked in 0.9 s (46 images/s)' from the stored summary, or ''."""
    summary = version.validation
    if summary.images is None:
        return ""
    seconds, rate = summary.seconds, summary.images_per_second
    speed = f" in {seconds:.1f} s ({'?' if rate is None else f'{rate:g}'} images/s)" if seconds is not None else ""
    return f"{summary.images} images checked{speed}."


def check_chart(frame: pd.DataFrame) -> alt.Chart:
    """Horizontal bars: issues per check, coloured by severity."""
    severities = [s for s in SEVERITY_COLORS if s in set(frame["severity"])]
    return (
        alt.Chart(frame)
        .mark_bar()
        .encode(
            x=alt.X("issues:Q", title="issues", axis=alt.Axis(tickMinStep=1)),
            y=alt.Y("check:N", sort="-x", title=None, axis=alt.Axis(labelLimit=220, labelOverlap=False)),
            color=alt.Color(
                "severity:N",
                scale=alt.Scale(domain=severities, range=[SEVERITY_COLORS[s] for s in severities]),
                legend=alt.Legend(orient="bottom", title=None),
            ),
            tooltip=["check", "severity", "issues", "meaning"],
        )
        .properties(height=90 + 26 * len(frame))
    )


def issue_filters_ui(version: DatasetVersion) -> IssueQuery:
    """Severity, check and file-name filters over the issue table (applied in SQL); returns the query."""
    checks_present, severities_present = call(issue_facets, version.id, action="Reading the checks") or ([], [])
    c1, c2, c3 = st.columns([1, 2, 2])
    severities = c1.multiselect(
        "Severity",
        [s for s in SEVERITY_COLORS if s in set(severities_present)],
        key="ds_issue_severity",
        placeholder="All",
    )
    checks = c2.multiselect("Check", checks_present, key="ds_issue_checks", placeholder="All")
    text = c3.text_input("File name contains", key="ds_issue_text", placeholder="e.g. 000123")
    return IssueQuery(severities=tuple(severities), checks=tuple(checks), text=text.strip()[:200])


def review_ui(version: DatasetVersion, query: IssueQuery, images: int) -> None:
    """Send the images of the filtered issues to the review queue (for the Annotate page)."""
    if not images:
        return
    with st.container(border=True):
        st.markdown("**Fix them on the Annotate page**")
        note = st.text_input(
            "Note for the reviewer (optional)",
            key=f"ds_review_reason_{version.id}",
            placeholder="Each image's reason names the checks that flagged it; add anything else here.",
            max_chars=200,
        )
        if st.button(f"Send {plural(images, 'flagged image')} to the review queue", key="ds_send_review", icon="📤"):
            reasons = call(issue_reasons, version.id, query, note, action="Reading the flagged images") or {}
            added = call(send_to_review, version.id, reasons, actor=current_actor(), action="Sending to review")
            if added is not None:
                st.success(f"{plural(added, 'image')} {'is' if added == 1 else 'are'} now in the review queue.")
                st.page_link("pages/annotate.py", label="Open Annotate", icon=":material/edit:")
