"""Recipe ideas for what was detected: diet and time filters and recipe cards."""

from __future__ import annotations

import streamlit as st

from backend.serving.certainty import certainty_of
from backend.serving.recipes import DIET_TAGS, RecipeMatch, empty_state_message, load_recipes, rank_recipes
from ui.widgets.calls import call
from ui.widgets.text import plain

RECIPES_SHOWN = 6
RECIPE_COLUMNS = 3


def recipe_filters_ui() -> tuple[list[str], int | None]:
    """Diet tags and a time limit; returns (tags, max minutes or None for no limit)."""
    recipes = call(load_recipes, action="Reading the recipe book") or ()
    longest = max((r.minutes for r in recipes), default=240)
    left, right = st.columns([3, 2])
    tags = left.multiselect("Diet", list(DIET_TAGS), key="detect_diet", placeholder="Any diet")
    minutes = right.slider(
        "Ready in at most (minutes)",
        min_value=5,
        max_value=longest,
        value=longest,
        step=5,
        key="detect_minutes",
        help="All the way to the right: no time limit.",
    )
    return list(tags), None if minutes >= longest else int(minutes)


def recipes_ui(detected: dict[str, float], *, hidden_less_certain: int = 0) -> None:
    """Recipe cards for the items shown ({class: calibrated probability}), with filters and the empty state (which
    suggests "Show less certain items" only when `hidden_less_certain` items are waiting behind it)."""
    st.header("What can I cook?", divider="orange")
    if detected:
        st.caption(
            "Based on: " + ", ".join(f"{plain(name)} ({certainty_of(p) or 'unsure'})" for name, p in detected.items())
        )
    tags, max_minutes = recipe_filters_ui()
    matches = call(
        rank_recipes,
        detected,
        diet_tags=tags,
        max_minutes=max_minutes,
        limit=RECIPES_SHOWN,
        action="Finding recipes",
    )
    if matches is None:
        return
    if not matches:
        message = call(
            empty_state_message,
            detected,
            tags,
            max_minutes,
            hidden_less_certain=hidden_less_certain,
            action="Finding recipes",
        )
        st.info(plain(message) or "No recipe matches these items yet.", icon="🍽️")
        return
    columns = st.columns(RECIPE_COLUMNS)
    for index, match in enumerate(matches):
        with columns[index % RECIPE_COLUMNS]:
            recipe_card(match)


def recipe_card(match: RecipeMatch) -> None:
    """One recipe: name, time, servings, diet tags, why, what is missing; ingredients and steps folded away."""
    recipe = match.recipe
    with st.container(border=True):
        st.markdown(f"#### {recipe.name}")
        st.caption(
            f"⏱️ {recipe.minutes} min · 👥 {recipe.servings} "
            f"serving{'s' * (recipe.servings != 1)}" + (f" · {', '.join(sorted(recipe.diet))}" if recipe.diet else "")
        )
        st.markdown(match.why)
        if match.missing:
            st.markdown("**Missing:** " + ", ".join(match.missing))
        else:
            st.markdown(":green[You have every key ingredient.]")
        st.progress(min(1.0, match.coverage), text=f"{match.coverage:.0%} of the ingredients found")
        with st.expander("Ingredients and steps"):
            st.markdown("\n".join(f"- {ing.quantity} {ing.item}".strip() for ing in recipe.ingredients))
            st.markdown("\n".join(f"{n}. {step}" for n, step in enumerate(recipe.steps, start=1)))
