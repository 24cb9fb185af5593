"""Registry widgets: the production model, promotion through the gate, rollback, ONNX export and the audit trail."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from backend.core.access import Actor
from backend.core.params import get_params
from backend.registry.agreement import Agreement
from backend.registry.compare import ModelEntry
from backend.registry.gate import GateFigures
from backend.registry.service import (
    audit_trail,
    export_model,
    get_production,
    promote_run,
    rollback,
    rollback_target,
)
from backend.registry.shadow import current_shadow, shadow_agreement
from ui.models.shadow import agreement_text
from ui.widgets.calls import call
from ui.widgets.charts import table_height
from ui.widgets.text import ago, plain

_RESULT_KEY = "models_gate_result"
_NOTICE_KEY = "models_notice"


def production_ui(actor: Actor) -> None:
    """The production model, its ONNX export and per-class thresholds, and the one-click rollback."""
    production = get_production()
    if production is None:
        st.info("No model is in production yet: the Detect page answers with the newest run. Promote one below.")
        return
    onnx = "ONNX export served (onnxruntime, CPU)" if production.onnx_path else "served from its .pt (no ONNX yet)"
    st.success(
        f"**In production: {plain(production.name)}** (#{production.id}), "
        f"promoted {ago(production.promoted_at)}; {onnx}.",
        icon="✅",
    )
    st.page_link("pages/detect.py", label=f"Try {plain(production.name)} on Detect", icon="📷")
    if production.class_thresholds:
        st.caption(
            "Per-class confidence thresholds (F1-optimal, the Detect page's defaults): "
            + ", ".join(f"{plain(k)} {v:.2f}" for k, v in sorted(production.class_thresholds.items()))
        )
    left, right = st.columns(2)
    if not production.onnx_path and left.button("Export to ONNX", key="models_export", icon="⚡"):
        with st.spinner("Exporting to ONNX…"):
            if call(export_model, production.id, actor=actor, action="Exporting") is not None:
                notice = f"{plain(production.name)} exported to ONNX; the Detect page now uses it."
                st.session_state[_NOTICE_KEY] = notice
                st.rerun()
    target = rollback_target()
    if target is not None and right.button(
        f"Roll back to {plain(target.name)} (#{target.id})", key="models_rollback", icon="↩️", type="secondary"
    ):
        restored = call(rollback, actor=actor, action="Rolling back")
        if restored is not None:
            st.session_state[_NOTICE_KEY] = f"Rolled back: {plain(restored.name)} is in production again."
            st.session_state.pop(_RESULT_KEY, None)
            st.rerun()


def notice_ui() -> None:
    """The message of the last promotion, rollback or export (kept across the rerun that refreshed the page)."""
    notice = st.session_state.pop(_NOTICE_KEY, None)
    if notice:
        st.toast(notice, icon="✅")
        st.success(notice)


def promote_ui(entries: list[ModelEntry], selected: list[int], actor: Actor) -> None:
    """Choose a candidate, give a reason (needed to override a block), run the gate; shows its figures."""
    params = get_params().registry
    st.caption(
        f"The gate evaluates the candidate and the production model on the same frozen validation split and blocks "
        f"the promotion when any class's AP50 drops by more than {params.max_ap50_drop:g} or the CPU latency is over "
        f"{params.latency_budget_ms:g} ms per image (params.yaml). A written reason overrides a block; both are kept "
        "in the audit trail."
    )
    live = _shadow_beside_ui(entries)
    choices = {e.run_id: f"#{e.run_id} {e.name} (mAP50 {e.map50 or 0:.3f}, {e.stage})" for e in entries}
    candidates = [e.run_id for e in entries if e.stage != "production"]
    if not candidates:
        st.caption("Every finished run is already in production; train another one to promote.")
        return
    default = next((i for i in selected if i in candidates), candidates[0])
    with st.form("models_promote_form", border=True):
        run_id = st.selectbox(
            "Candidate",
            candidates,
            index=candidates.index(default),
            format_func=lambda i: choices[i],
            key="models_candidate",
        )
        reason = st.text_area(
            "Reason", key="models_reason", placeholder="Why this model? Required to override a blocked gate.", height=80
        )
        submitted = st.form_submit_button("Run the gate and promote", type="primary", icon="🚀")
    if submitted and run_id is not None:
        with st.spinner("Evaluating the candidate and the production model on the same validation split…"):
            figures = call(promote_run, int(run_id), reason=reason or "", actor=actor, action="Promoting")
        if figures is not None:
            st.session_state[_RESULT_KEY] = figures
            if figures.promoted:
                st.session_state[_NOTICE_KEY] = f"Promoted {plain(choices[int(run_id)].split(' (')[0])} to production."
            st.rerun()
    figures = st.session_state.get(_RESULT_KEY)
    if isinstance(figures, GateFigures):
        gate_result_ui(figures, live)


def _shadow_beside_ui(entries: list[ModelEntry]) -> Agreement | None:
    """The model in shadow's live-traffic figures beside its evaluation-set figures; its agreement, or None."""
    shadow = current_shadow()
    if shadow is None:
        return None
    live = call(shadow_agreement, shadow, action="Comparing the shadow")
    if live is None:
        return None
    entry = next((e for e in entries if e.run_id == shadow.run_id), None)
    evaluation = (
        f"mAP50 {entry.map50:.3f} on its evaluation set" if entry and entry.map50 is not None else "no evaluation"
    )
    st.info(f"**Shadow {plain(shadow.name)}** ({evaluation}) on live traffic: {agreement_text(live)}", icon="👥")
    return live


def gate_result_ui(figures: GateFigures, live: Agreement | None = None) -> None:
    """The gate's verdict, reasons and per-class figures, with the shadow's live-traffic agreement beside them."""
    if figures.promoted and figures.overridden:
        st.warning("Promoted with an override: " + plain("; ".join(figures.reasons)), icon="⚖️")
    elif figures.promoted:
        st.success("The gate passed and the model is in production.", icon="✅")
    else:
        st.error("Blocked: " + plain("; ".join(figures.reasons)) + ". Write a reason to override.", icon="🚫")
    st.caption(f"Evaluated on {plain(figures.dataset)}.")
    rows = [
        {
            "class": c.name,
            "candidate AP50": c.candidate_ap50,
            "production AP50": c.production_ap50,
            "Δ": c.delta,
            "blocks": "yes" if c.blocked else "",
        }
        for c in figures.classes
    ]
    if live is not None:  # the evaluation set's figures and the live traffic's, class by class
        shares = {c.name: c.shadow_finds for c in live.classes}
        for row in rows:
            row["shadow also finds (live)"] = shares.get(str(row["class"]))
    rows.append(
        {
            "class": "CPU latency ms",
            "candidate AP50": figures.candidate.get("latency_ms"),
            "production AP50": figures.production.get("latency_ms"),
            "Δ": None,
            "blocks": "yes" if any("latency" in r for r in figures.reasons) else "",
        }
    )
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="models_gate_table")


def audit_ui() -> None:
    """Who promoted, overrode, rolled back or exported what, when and why."""
    trail = audit_trail(limit=100)
    if not trail:
        st.caption("Nothing promoted or rolled back yet.")
        return
    rows = [
        {
            "when": e.when,
            "action": e.action,
            "model": e.model,
            "previous production": e.previous,
            "who": e.actor,
            "reason": e.reason,
            "gate": "; ".join(e.figures.get("reasons", [])) or ("passed" if e.figures.get("passed") else ""),
        }
        for e in trail
    ]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        height=table_height(len(rows), 10),
        key="models_audit",
        column_config={"when": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss")},
    )
