"""Registry widgets: the production model, promotion through the gate, rollback, ONNX export and the model history."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from backend.core.access import Actor
from backend.core.enums import ModelStage
from backend.core.params import get_params
from backend.registry.agreement import Agreement
from backend.registry.compare import ModelEntry, interval_text
from backend.registry.eval_set import choose_eval_set, current_eval_set
from backend.registry.gate import GateFigures
from backend.registry.service import (
    export_model,
    get_production,
    model_history,
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
REASON_LIMIT = 1000  # characters of one gate reason shown (they run to about 300)
_CONFIRM_KEY = "models_rollback_asked"  # the model id a rollback to was asked for, until confirmed or kept


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
    st.page_link("pages/detect.py", label=f"Try {plain(production.name)} on Detect", icon=":material/photo_camera:")
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
    if target is None:
        return
    if right.button(
        f"Roll back to {plain(target.name)} (#{target.id})",
        key="models_rollback",
        icon=":material/undo:",
        type="secondary",
    ):
        st.session_state[_CONFIRM_KEY] = target.id  # asked first: a rollback changes what every end user gets
    if st.session_state.get(_CONFIRM_KEY) == target.id:
        _confirm_rollback_ui(actor, production.name, target.name)


def _confirm_rollback_ui(actor: Actor, current: str, previous: str) -> None:
    """The second step of a rollback: say what changes, then roll back or keep the production model."""
    st.warning(
        f"Roll back? The Detect page will answer with {plain(previous)} instead of {plain(current)} for every "
        "user from the next request. The model history keeps both.",
        icon=":material/warning:",
    )
    yes, no = st.columns(2)
    if yes.button("Yes, roll back", key="models_rollback_confirm", type="primary", icon=":material/undo:"):
        st.session_state.pop(_CONFIRM_KEY, None)
        restored = call(rollback, actor=actor, action="Rolling back")
        if restored is not None:
            st.session_state[_NOTICE_KEY] = f"Rolled back: {plain(restored.name)} is in production again."
            st.session_state.pop(_RESULT_KEY, None)
            st.rerun()
    if no.button(f"Keep {plain(current)}", key="models_rollback_cancel"):
        st.session_state.pop(_CONFIRM_KEY, None)
        st.rerun()


def notice_ui() -> None:
    """The message of the last promotion, rollback or export (kept across the rerun that refreshed the page)."""
    notice = st.session_state.pop(_NOTICE_KEY, None)
    if notice:
        st.toast(notice, icon="✅")
        st.success(notice)


def eval_set_ui(entries: list[ModelEntry], actor: Actor) -> None:
    """The evaluation set the gate always uses (name, version, size), and choosing another one with a reason."""
    current = current_eval_set()
    if current is None:
        st.info(
            "No evaluation set yet: the first promotion makes the promoted model's validation split the set the gate "
            "judges every later candidate on.",
            icon="🎯",
        )
    else:
        st.markdown(
            f"**Evaluation set: '{plain(current.name)}' v{current.number}**, {current.images} images, "
            f"{current.instances} boxes ({current.action} by {plain(current.actor) or '—'}, {ago(current.created_at)})"
        )
    versions = {e.dataset_version_id: e.dataset for e in entries if e.dataset_version_id is not None}
    if not versions:
        return
    with st.expander("Choose another evaluation set"), st.form("models_eval_set_form", border=False):
        version_id = st.selectbox(
            "Dataset version (its test split when it has one, else val)",
            list(versions),
            format_func=lambda i: versions[i],
            key="models_eval_version",
        )
        why = st.text_input("Why", key="models_eval_reason", placeholder="e.g. the reviewed benchmark of the team")
        if st.form_submit_button("Use as the evaluation set") and version_id is not None:
            chosen = call(choose_eval_set, int(version_id), actor=actor, reason=why or "", action="Choosing")
            if chosen is not None:
                st.session_state[_NOTICE_KEY] = f"The gate now judges on {plain(chosen.label)} (v{chosen.number})."
                st.rerun()


def promote_ui(entries: list[ModelEntry], selected: list[int], actor: Actor) -> None:
    """Choose a candidate, give a reason (needed to override a block), run the gate; shows its figures."""
    params = get_params().registry
    st.caption(
        "The gate scores the candidate and the production model on the evaluation set (never only on the "
        "candidate's own split) and compares them with a paired bootstrap over its images. It blocks the promotion "
        "when production is better beyond the 95 % interval"
        + (", when the candidate is not shown better beyond it" if params.require_shown_better else "")
        + f", when any class's AP50 drops by more than {params.max_ap50_drop:g} or the CPU latency is over "
        f"{params.latency_budget_ms:g} ms per image; it refuses to decide on a set under {params.eval_min_images} "
        f"images or {params.eval_min_instances} boxes of a class (params.yaml). A written reason overrides; both are "
        "kept in the model history."
    )
    eval_set_ui(entries, actor)
    live = _shadow_beside_ui(entries)
    choices = {e.run_id: f"#{e.run_id} {e.name} (mAP50 {e.map50 or 0:.3f}, {e.stage})" for e in entries}
    candidates = [e.run_id for e in entries if e.stage != ModelStage.PRODUCTION]
    if not candidates:
        st.caption("Every finished run is already in production; train another one to promote.")
        return
    default = next((i for i in selected if i in candidates), candidates[0])
    # Outside the form, so that choosing another candidate clears the last gate result (it was another model's).
    run_id = st.selectbox(
        "Candidate",
        candidates,
        index=candidates.index(default),
        format_func=lambda i: choices[i],
        key="models_candidate",
        on_change=_forget_gate_result,
    )
    with st.form("models_promote_form", border=True):
        reason = st.text_area(
            "Reason", key="models_reason", placeholder="Why this model? Required to override a blocked gate.", height=80
        )
        confirm = st.checkbox(
            "I confirm the class mapping shown (needed when the candidate's classes differ from the set's)",
            key="models_confirm_classes",
        )
        submitted = st.form_submit_button("Run the gate and promote", type="primary", icon="🚀")
    if submitted and run_id is not None:
        with st.spinner("Scoring the candidate and the production model on the evaluation set…"):
            figures = call(
                promote_run,
                int(run_id),
                reason=reason or "",
                actor=actor,
                confirm_classes=confirm,
                action="Promoting",
            )
        if figures is not None:
            st.session_state[_RESULT_KEY] = figures
            if figures.promoted:
                name = plain(choices[int(run_id)].split(" (")[0])
                verdict = "promoted with an override" if figures.overridden else "the gate passed"
                st.session_state[_NOTICE_KEY] = f"Promoted {name} to production: {verdict}."
            st.rerun()
    figures = st.session_state.get(_RESULT_KEY)
    if isinstance(figures, GateFigures):
        gate_result_ui(figures, live)


def _with_interval(figures: dict, key: str) -> str:
    """E.g. "0.562 (0.512 to 0.604)"; "—" without the figure."""
    value = figures.get(key)
    if value is None:
        return "—"
    return f"{value:.3f} ({interval_text(figures.get(f'{key}_low'), figures.get(f'{key}_high'))})"


def _reasons_text(reasons: list[str]) -> str:
    """Each reason on its own line, whole (a reason names the set and its interval: none is cut short)."""
    return "  \n".join(f"• {plain(reason, limit=REASON_LIMIT)}" for reason in reasons)


def _forget_gate_result() -> None:
    st.session_state.pop(_RESULT_KEY, None)


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
    """The gate's verdict and reasons, every figure with its set's name, size and 95 % interval, with the shadow's
    live-traffic agreement beside them."""
    if figures.promoted and figures.overridden:
        st.warning("Promoted with an override:  \n" + _reasons_text(figures.reasons), icon="⚖️")
    elif figures.promoted:
        st.success("The gate passed and the model is in production.", icon="✅")
    else:
        st.error(f"Blocked:  \n{_reasons_text(figures.reasons)}  \nWrite a reason to override.", icon="🚫")
    if figures.class_mapping.get("missing_in_candidate") or figures.class_mapping.get("not_in_set"):
        mapping = figures.class_mapping
        st.caption(
            f"Class mapping by name: {len(mapping.get('matched', []))} match; the candidate lacks "
            f"{', '.join(mapping.get('missing_in_candidate', [])) or 'none'}; the set lacks "
            f"{', '.join(mapping.get('not_in_set', [])) or 'none'}."
        )
    basis = f"{figures.dataset}, v{figures.eval_set.get('number', '?')}"  # tables show text as it is
    own = figures.own_split
    summary = [
        {
            "model": "candidate",
            "evaluated on": basis,
            "mAP50 (95 % interval)": _with_interval(figures.candidate, "map50"),
            "mAP50-95 (95 % interval)": _with_interval(figures.candidate, "map50_95"),
            "CPU latency ms": figures.candidate.get("latency_ms"),
        }
    ]
    if figures.production:
        summary.append(
            {
                "model": "production",
                "evaluated on": basis,
                "mAP50 (95 % interval)": _with_interval(figures.production, "map50"),
                "mAP50-95 (95 % interval)": _with_interval(figures.production, "map50_95"),
                "CPU latency ms": figures.production.get("latency_ms"),
            }
        )
        summary.append(
            {
                "model": "candidate − production (paired)",
                "evaluated on": basis,
                "mAP50 (95 % interval)": _with_interval(figures.paired, "map50_delta"),
                "mAP50-95 (95 % interval)": _with_interval(figures.paired, "map50_95_delta"),
                "CPU latency ms": None,
            }
        )
    if own:
        summary.append(
            {
                "model": "candidate on its own split (shown, never deciding)",
                "evaluated on": f"{own.get('dataset')}, {own.get('images')} images, {own.get('instances')} boxes",
                "mAP50 (95 % interval)": _with_interval(own, "map50"),
                "mAP50-95 (95 % interval)": _with_interval(own, "map50_95"),
                "CPU latency ms": None,
            }
        )
    st.dataframe(pd.DataFrame(summary), hide_index=True, width="stretch", key="models_gate_summary")
    rows = [
        {
            "class": c.name,
            "boxes in set": c.instances,
            "candidate AP50": c.candidate_ap50,
            "candidate 95 %": interval_text(c.candidate_low, c.candidate_high),
            "production AP50": c.production_ap50,
            "production 95 %": interval_text(c.production_low, c.production_high),
            "Δ": c.delta,
            "Δ 95 %": interval_text(c.delta_low, c.delta_high),
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
            "blocks": "yes" if any("latency" in r for r in figures.reasons) else "",
        }
    )
    st.caption(f"Per class on {plain(basis)}:")
    st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="models_gate_table")


def history_ui() -> None:
    """Who promoted, overrode, rolled back or exported what, when and why."""
    history = model_history(limit=100)
    if not history:
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
        for e in history
    ]
    st.dataframe(
        pd.DataFrame(rows),
        hide_index=True,
        width="stretch",
        height=table_height(len(rows), 10),
        key="models_history",
        column_config={"when": st.column_config.DatetimeColumn(format="YYYY-MM-DD HH:mm:ss")},
    )
