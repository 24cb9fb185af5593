"""Shadow widgets: put a candidate in shadow (it answers live Detect traffic in the background), take it out, and
its agreement with production (per class, pictures compared with a 95 % interval, the pictures where they disagree
most). The work is in `backend.registry.shadow`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from backend.core.access import Actor
from backend.registry.agreement import Agreement
from backend.registry.compare import ModelEntry
from backend.registry.shadow import ShadowChoice, current_shadow, put_in_shadow, shadow_agreement, take_out_of_shadow
from ui.widgets.calls import call
from ui.widgets.text import ago, plain, plural

_NOTICE_KEY = "models_notice"
_COLUMNS = 4


def shadow_ui(entries: list[ModelEntry], actor: Actor) -> None:
    """The model in shadow with its agreement figures, and the choice of which candidate answers in shadow."""
    st.caption(
        "A model in shadow answers the same Detect pictures as production, in the background after each end "
        "user's answer (never delaying it); its answers are logged apart and compared with production's here."
    )
    choice = current_shadow()
    if choice is not None:
        _current_ui(choice, actor)
    candidates = [e.run_id for e in entries if e.stage != "production"]
    if not candidates:
        st.caption("No candidate to put in shadow: every finished run is in production.")
        return
    names = {e.run_id: f"#{e.run_id} {e.name} ({e.stage})" for e in entries}
    left, right = st.columns([3, 1], vertical_alignment="bottom")
    run_id = left.selectbox(
        "Candidate to answer in shadow", candidates, format_func=lambda i: names[i], key="models_shadow_candidate"
    )
    if right.button("Put in shadow", key="models_shadow_on", icon="👥") and run_id is not None:
        chosen = call(put_in_shadow, actor=actor, run_id=int(run_id), action="Putting in shadow")
        if chosen is not None:
            st.session_state[_NOTICE_KEY] = f"{plain(chosen.name)} now answers Detect traffic in shadow."
            st.rerun()


def _current_ui(choice: ShadowChoice, actor: Actor) -> None:
    st.info(
        f"**In shadow: {plain(choice.name)}**, since {ago(choice.since)} (put there by {plain(choice.actor)}).",
        icon="👥",
    )
    figures = call(shadow_agreement, choice, action="Comparing the shadow")
    if figures is not None:
        agreement_ui(figures)
    stop = st.button("Take out of shadow", key="models_shadow_off", icon="⏹️")
    if stop and call(_take_out, actor, action="Taking out of shadow"):
        st.session_state[_NOTICE_KEY] = f"{plain(choice.name)} no longer answers in shadow."
        st.rerun()


def _take_out(actor: Actor) -> bool:
    take_out_of_shadow(actor=actor)
    return True


def agreement_text(figures: Agreement) -> str:
    """One line: pictures compared and the picture-level agreement with its 95 % Wilson interval."""
    if not figures.pictures:
        return "No picture compared yet: the shadow answers the next Detect pictures."
    rate = figures.rate or 0.0
    return (
        f"{plural(figures.pictures, 'picture')} compared: the two models agree on {figures.agreeing} "
        f"({rate:.0%}, 95 % interval {figures.low:.0%}–{figures.high:.0%})."
    )


def agreement_ui(figures: Agreement) -> None:
    """Pictures compared, agreement per class, latency, and the pictures where the models disagree most."""
    st.markdown(agreement_text(figures))
    if not figures.pictures:
        return
    if figures.production_ms is not None and figures.shadow_ms is not None:
        st.caption(f"Median model call: production {figures.production_ms:.1f} ms, shadow {figures.shadow_ms:.1f} ms.")
    rows = [
        {
            "class": c.name,
            "production detections": c.production,
            "shadow also finds": c.shadow_finds,
            "shadow detections": c.shadow,
            "production also finds": c.production_finds,
        }
        for c in figures.classes
    ]
    if rows:
        st.dataframe(pd.DataFrame(rows), hide_index=True, width="stretch", key="models_shadow_classes")
    if figures.worst:
        st.caption("Where they disagree most (what only one model saw):")
        cols = st.columns(_COLUMNS)
        for index, picture in enumerate(figures.worst):
            with cols[index % _COLUMNS]:
                if picture.thumb_path and Path(picture.thumb_path).is_file():
                    st.image(picture.thumb_path, width="stretch")
                else:
                    st.caption("(picture not kept)")
                only_production = plain(", ".join(picture.production_only)) or "—"
                only_shadow = plain(", ".join(picture.shadow_only)) or "—"
                st.caption(
                    f"{plain(picture.image_name, 24)} · production only: {only_production} · shadow only: {only_shadow}"
                )
