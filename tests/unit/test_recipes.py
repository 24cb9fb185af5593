"""The shipped recipe database and the pure recommendation functions behind the Detect page."""

from __future__ import annotations

import dataclasses
import json
import os
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from backend.core.errors import BadInputError
from backend.core.vocab import FOOD_CLASSES, PANTRY_STAPLES
from backend.serving.recipes import (
    DEFAULT_RECIPES_PATH,
    DIET_TAGS,
    MEALS,
    Ingredient,
    Recipe,
    RecipeDataError,
    empty_state_message,
    load_recipes,
    match_recipe,
    rank_recipes,
)

SEEDS = range(25)


# ----------------------------------------------------------------------------------------------- helpers


def make_recipe(
    rid: str,
    foods: list[str],
    *,
    extras: tuple[str, ...] = (),
    minutes: int = 30,
    diet: tuple[str, ...] = (),
    staples: tuple[str, ...] = ("salt", "olive oil"),
) -> Recipe:
    """A synthetic recipe: one ingredient per food class, plus non-vocabulary extras and staples."""
    ingredients = (
        *(Ingredient(item=f"fresh {food}", quantity="1", food=food) for food in foods),
        *(Ingredient(item=extra, quantity="1", food=None) for extra in extras),
        *(Ingredient(item=staple, quantity="to taste", food=None) for staple in staples),
    )
    return Recipe(
        id=rid,
        name=rid.replace("-", " ").title(),
        description="A test recipe.",
        ingredients=ingredients,
        steps=("Cook it.", "Serve it.", "Eat it."),
        minutes=minutes,
        servings=2,
        diet=frozenset(diet),
        cuisine="test",
        meal="dinner",
    )


def random_detection(rng: random.Random, *, max_classes: int = 5) -> dict[str, float]:
    """A random detection: a few vocabulary classes with confidences in (0, 1]."""
    names = rng.sample(FOOD_CLASSES, rng.randint(1, max_classes))
    return {name: round(rng.uniform(0.05, 1.0), 3) for name in names}


def write_recipes(path: Path, rows: list[dict[str, Any]]) -> Path:
    """Write a recipes document for the loader."""
    path.write_text(json.dumps({"schema_version": 1, "recipes": rows}), encoding="utf-8")
    return path


def valid_row(rid: str = "toast") -> dict[str, Any]:
    """A minimal valid recipe row."""
    return {
        "id": rid,
        "name": rid.title(),
        "description": "Bread, toasted.",
        "cuisine": "british",
        "meal": "breakfast",
        "minutes": 5,
        "servings": 1,
        "diet": ["vegetarian"],
        "ingredients": [
            {"item": "bread", "quantity": "2 slices", "food": "bread"},
            {"item": "butter", "quantity": "1 tbsp", "food": None},
        ],
        "steps": ["Toast the bread.", "Butter it.", "Eat it."],
    }


@pytest.fixture(scope="module", name="recipes")
def fixture_recipes() -> Iterator[tuple[Recipe, ...]]:
    """The shipped recipe database."""
    yield load_recipes()


def words(recipe: Recipe) -> list[str]:
    """Lower-case ingredient items of a recipe."""
    return [ing.item.lower() for ing in recipe.ingredients]


def contains(text: str, pattern: str) -> bool:
    """Word-start match, so 'ham' does not hit 'champagne'."""
    return re.search(rf"\b{pattern}", text) is not None


# ----------------------------------------------------------------------------------------------- database


def test_database_is_large_and_ids_and_names_are_unique(recipes: tuple[Recipe, ...]) -> None:
    assert len(recipes) >= 150
    ids = [r.id for r in recipes]
    names = [r.name.lower() for r in recipes]
    assert len(set(ids)) == len(ids)
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", rid) for rid in ids)


def test_every_recipe_is_complete(recipes: tuple[Recipe, ...]) -> None:
    for r in recipes:
        assert r.description and "\n" not in r.description, r.id
        assert 3 <= len(r.steps) <= 8, r.id
        assert all(len(step.split()) >= 2 and step.endswith(".") for step in r.steps), r.id
        assert r.minutes > 0 and r.servings > 0, r.id
        assert r.meal in MEALS, r.id
        assert r.diet <= set(DIET_TAGS), r.id
        assert r.foods, f"{r.id} uses no detector class"
        assert r.key_ingredients, r.id
        assert len({ing.item.lower() for ing in r.ingredients}) == len(r.ingredients), f"{r.id} repeats an item"


def test_every_food_maps_to_the_vocabulary(recipes: tuple[Recipe, ...]) -> None:
    for r in recipes:
        for ing in r.ingredients:
            assert ing.food is None or ing.food in FOOD_CLASSES, (r.id, ing)


def test_every_class_is_used_by_at_least_ten_recipes(recipes: tuple[Recipe, ...]) -> None:
    counts = {name: sum(name in r.foods for r in recipes) for name in FOOD_CLASSES}
    assert all(count >= 10 for count in counts.values()), counts
    # Many recipes combine several classes, so a photo of a few foods finds real matches.
    assert sum(len(r.foods) >= 2 for r in recipes) >= len(recipes) // 2


def test_recipes_are_not_templated_copies(recipes: tuple[Recipe, ...]) -> None:
    descriptions = {r.description for r in recipes}
    methods = {r.steps for r in recipes}
    ingredient_lists = {frozenset(ing.item for ing in r.ingredients) for r in recipes}
    assert len(descriptions) == len(methods) == len(ingredient_lists) == len(recipes)
    assert not any(re.search(r"\b\d+$", r.name) for r in recipes)


MEAT_FISH = [
    "chicken", "beef", "pork", "bacon", "ham", "prosciutto", "pancetta", "guanciale", "salami", "pepperoni",
    "sausage", "chorizo", "lamb", "turkey", "duck", "steak", "mince", "anchov", "tuna", "salmon", "cod", "fish",
    "prawn", "shrimp", "oyster sauce", "worcestershire", "gelatin", "lard", "parmesan", "pecorino",
]  # fmt: skip
ANIMAL = ["cheese", "feta", "mozzarella", "ricotta", "halloumi", "mascarpone", "egg", "butter", "milk", "cream",
          "yogurt", "honey", "mayonnaise", "ghee", "brioche"]  # fmt: skip
PLANT_BASED = ["coconut milk", "oat milk", "almond milk", "soy milk", "peanut butter", "coconut cream"]
GLUTEN = ["bread", "baguette", "ciabatta", "pita", "pizza", "flour", "pasta", "spaghetti", "penne", "macaroni",
          "noodle", "couscous", "bulgur", "pastry", "biscuit", "tortillas", "soy sauce", "oats", "crumbs"]  # fmt: skip
DAIRY = ["cheese", "feta", "mozzarella", "ricotta", "halloumi", "mascarpone", "butter", "milk", "cream", "yogurt",
         "ghee", "chocolate"]  # fmt: skip
NUTS = ["almond", "walnut", "pecan", "cashew", "hazelnut", "pistachio", "pine nut", "peanut", "pesto"]


def test_vegetarian_and_vegan_tags_are_true(recipes: tuple[Recipe, ...]) -> None:
    for r in recipes:
        items = words(r)
        if "vegetarian" in r.diet or "vegan" in r.diet:
            assert not [i for i in items if any(contains(i, m) for m in MEAT_FISH)], r.id
        if "vegan" in r.diet:
            assert "vegetarian" in r.diet, r.id
            assert not any(ing.food in ("cheese", "egg") for ing in r.ingredients), r.id
            animal = [i for i in items if any(contains(i, a) for a in ANIMAL) and not any(p in i for p in PLANT_BASED)]
            assert not animal, (r.id, animal)


def test_gluten_dairy_and_nut_tags_are_true(recipes: tuple[Recipe, ...]) -> None:
    for r in recipes:
        items = words(r)
        if "gluten-free" in r.diet:
            gluten = [
                i
                for i in items
                if any(g in i for g in GLUTEN) and "gluten-free" not in i and not i.startswith("corn tortilla")
            ]
            assert not gluten, (r.id, gluten)
            assert all(ing.food not in ("bread", "pizza") or "gluten-free" in ing.item for ing in r.ingredients)
        if "dairy-free" in r.diet:
            dairy = [i for i in items if any(contains(i, d) for d in DAIRY) and not any(p in i for p in PLANT_BASED)]
            assert not dairy, (r.id, dairy)
            assert not any(ing.food == "cheese" for ing in r.ingredients), r.id
        if "nut-free" in r.diet:
            assert not [i for i in items if any(n in i for n in NUTS)], r.id


def test_every_diet_tag_is_offered_by_some_recipes(recipes: tuple[Recipe, ...]) -> None:
    for tag in DIET_TAGS:
        assert sum(tag in r.diet for r in recipes) >= 10, tag


def test_staples_are_recognised(recipes: tuple[Recipe, ...]) -> None:
    staples = {ing.item for r in recipes for ing in r.ingredients if ing.is_staple}
    assert staples and staples <= PANTRY_STAPLES
    assert not any(ing.is_staple and ing.food for r in recipes for ing in r.ingredients)


# ----------------------------------------------------------------------------------------------- loader


def test_loader_is_cached_and_reads_the_shipped_file() -> None:
    assert load_recipes() is load_recipes()
    assert load_recipes(DEFAULT_RECIPES_PATH) is load_recipes()


def test_loader_reads_a_valid_file_and_sees_edits(tmp_path: Path) -> None:
    path = write_recipes(tmp_path / "r.json", [valid_row("toast")])
    loaded = load_recipes(path)
    assert len(loaded) == 1
    toast = loaded[0]
    assert toast.foods == {"bread"} and toast.key_ingredients[0].item == "bread"
    write_recipes(path, [valid_row("toast"), valid_row("more-toast")])
    os.utime(path, ns=(1, 10**18))  # a different modification time, however coarse the file system clock
    assert [r.id for r in load_recipes(path)] == ["toast", "more-toast"]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda row: row["ingredients"][0].update(food="bagel"), "unknown food class 'bagel'"),
        (lambda row: row.update(diet=["keto"]), "unknown diet tag 'keto'"),
        (lambda row: row.update(steps=[]), "'steps'"),
        (lambda row: row.update(minutes=0), "'minutes'"),
        (lambda row: row.update(meal="brunch"), "meal 'brunch'"),
        (lambda row: row["ingredients"][0].update(food=None), "no ingredient maps"),
        (lambda row: row.pop("name"), "'name'"),
    ],
)
def test_loader_rejects_bad_recipes_clearly(tmp_path: Path, change: Any, message: str) -> None:
    row = valid_row("bad-toast")
    change(row)
    path = write_recipes(tmp_path / "r.json", [row])
    with pytest.raises(RecipeDataError, match=re.escape(message)) as info:
        load_recipes(path)
    assert "bad-toast" in str(info.value)


def test_loader_rejects_duplicates_missing_files_and_broken_json(tmp_path: Path) -> None:
    with pytest.raises(RecipeDataError, match="more than once"):
        load_recipes(write_recipes(tmp_path / "dup.json", [valid_row("a"), valid_row("a")]))
    with pytest.raises(RecipeDataError, match="not found"):
        load_recipes(tmp_path / "missing.json")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    with pytest.raises(RecipeDataError, match="not valid JSON"):
        load_recipes(broken)


# ----------------------------------------------------------------------------------------------- ranking


def test_example_greek_salad_ranks_high_and_explains_itself() -> None:
    detected = {"tomato": 0.9, "cucumber": 0.85, "cheese": 0.8, "lemon": 0.7}
    top = rank_recipes(detected, limit=20)
    assert "greek-salad" in [m.recipe.id for m in top]
    # Every top recipe uses at least two of the four foods in the photo.
    assert all(len(m.covered) >= 2 for m in top[:10])
    greek = next(m for m in top if m.recipe.id == "greek-salad")
    assert greek.covered == ["tomato", "cucumber", "cheese", "lemon"]
    assert "red onion" in greek.missing and "salt" not in greek.missing and "olive oil" not in greek.missing
    assert greek.why.startswith("Uses your tomato, cucumber, cheese and lemon; you also need")
    assert 0 < greek.score <= greek.coverage <= 1


def test_score_formula_matches_the_docstring() -> None:
    recipe = make_recipe("two-of-four", ["tomato", "egg", "bread"], extras=("onion",))
    match = match_recipe(recipe, {"tomato": 0.8, "egg": 0.6})
    assert match.score == pytest.approx((0.8 + 0.6) / 4)
    assert match.coverage == pytest.approx(2 / 4)
    assert match.covered == ["tomato", "egg"]
    assert match.missing == ["fresh bread", "onion"]
    nothing = match_recipe(recipe, {"banana": 1.0})
    assert nothing.score == 0 and not nothing.covered


def test_pairs_take_the_best_confidence_per_class() -> None:
    pool = [make_recipe("t", ["tomato"], extras=("basil",))]
    as_pairs = rank_recipes([("tomato", 0.3), ("tomato", 0.9), ("tomato", 0.5)], recipes=pool)
    as_map = rank_recipes({"tomato": 0.9}, recipes=pool)
    as_dicts = rank_recipes(
        [{"class": "tomato", "confidence": 0.9}, {"class": "tomato", "confidence": 0.2}], recipes=pool
    )
    assert as_pairs[0].score == as_map[0].score == as_dicts[0].score == pytest.approx(0.45)


@pytest.mark.parametrize("seed", SEEDS)
def test_adding_a_detection_never_lowers_a_score(recipes: tuple[Recipe, ...], seed: int) -> None:
    rng = random.Random(seed)
    detected = random_detection(rng, max_classes=4)
    extra = rng.choice([c for c in FOOD_CLASSES if c not in detected])
    bigger = {**detected, extra: rng.uniform(0.05, 1.0)}
    for recipe in rng.sample(recipes, 60):
        before, after = match_recipe(recipe, detected), match_recipe(recipe, bigger)
        assert after.score >= before.score, recipe.id
        assert set(before.covered) <= set(after.covered) and len(after.missing) <= len(before.missing)
        if extra in recipe.foods:
            assert after.score > before.score
    ranked_before = {m.recipe.id: m.score for m in rank_recipes(detected, limit=None)}
    ranked_after = {m.recipe.id: m.score for m in rank_recipes(bigger, limit=None)}
    assert set(ranked_before) <= set(ranked_after)
    assert all(ranked_after[rid] >= score for rid, score in ranked_before.items())


@pytest.mark.parametrize("seed", SEEDS)
def test_higher_confidence_never_lowers_a_score(recipes: tuple[Recipe, ...], seed: int) -> None:
    rng = random.Random(seed)
    detected = random_detection(rng)
    name = rng.choice(list(detected))
    surer = {**detected, name: min(1.0, detected[name] + rng.uniform(0.01, 0.5))}
    for recipe in rng.sample(recipes, 60):
        assert match_recipe(recipe, surer).score >= match_recipe(recipe, detected).score, recipe.id


@pytest.mark.parametrize("seed", SEEDS)
def test_more_covered_ingredients_rank_higher(seed: int) -> None:
    rng = random.Random(seed)
    size = rng.randint(3, 9)
    foods = rng.sample(FOOD_CLASSES, size)
    covered_b = rng.randint(1, size - 1)
    covered_a = rng.randint(covered_b + 1, size)
    confidence = rng.uniform(0.05, 1.0)
    detected = dict.fromkeys(foods[:covered_a], confidence)
    # Same size; A's detected foods are a strict superset of B's, the rest are foods nobody detected.
    undetected = [c for c in FOOD_CLASSES if c not in detected]
    recipe_a = make_recipe("recipe-a", foods[:covered_a], extras=tuple(f"x{i}" for i in range(size - covered_a)))
    b_foods = foods[:covered_b] + rng.sample(undetected, min(len(undetected), size - covered_b))
    recipe_b = make_recipe("recipe-b", b_foods, extras=tuple(f"y{i}" for i in range(size - len(b_foods))))
    # B is faster and alphabetically first, so only the coverage can put A ahead.
    recipe_b = dataclasses.replace(recipe_b, minutes=5, name="Aaa")
    assert len(recipe_a.key_ingredients) == len(recipe_b.key_ingredients) == size
    ranked = rank_recipes(detected, recipes=[recipe_b, recipe_a])
    assert [m.recipe.id for m in ranked] == ["recipe-a", "recipe-b"]
    assert ranked[0].score > ranked[1].score


@pytest.mark.parametrize("seed", SEEDS)
def test_ranking_respects_filters_order_and_coverage(recipes: tuple[Recipe, ...], seed: int) -> None:
    rng = random.Random(seed)
    detected = random_detection(rng)
    tags = rng.sample(DIET_TAGS, rng.randint(0, 2))
    max_minutes = rng.choice([None, 10, 20, 30, 45, 60, 120])
    limit = rng.choice([None, 1, 5, 10, 50])
    ranked = rank_recipes(detected, diet_tags=tags, max_minutes=max_minutes, limit=limit)
    if limit is not None:
        assert len(ranked) <= limit
    scores = [m.score for m in ranked]
    assert scores == sorted(scores, reverse=True)
    for m in ranked:
        assert set(tags) <= m.recipe.diet
        assert max_minutes is None or m.recipe.minutes <= max_minutes
        assert m.covered and set(m.covered) <= set(detected) and set(m.covered) <= m.recipe.foods
        assert all(name in m.why for name in m.covered)
        assert not set(m.missing) & PANTRY_STAPLES
        assert 0 < m.score <= 1 and 0 < m.coverage <= 1
    # Nothing that passes the filters and covers a detected class is left out (when not truncated).
    if limit is None:
        expected = {
            r.id
            for r in recipes
            if r.foods & set(detected) and set(tags) <= r.diet and (max_minutes is None or r.minutes <= max_minutes)
        }
        assert {m.recipe.id for m in ranked} == expected


@pytest.mark.parametrize("seed", SEEDS[:10])
def test_unknown_classes_are_ignored(seed: int) -> None:
    rng = random.Random(seed)
    detected = random_detection(rng)
    noisy = [*detected.items(), ("sushi", 0.99), ("Spaceship", 0.5), ("", 0.7)]
    assert rank_recipes(noisy, limit=None) == rank_recipes(detected, limit=None)
    assert rank_recipes({"sushi": 0.99, "dragonfruit": 0.8}) == []


def test_class_names_are_case_insensitive_and_bad_confidences_dropped() -> None:
    assert rank_recipes({" Tomato ": 0.9}, limit=None) == rank_recipes({"tomato": 0.9}, limit=None)
    assert rank_recipes({"tomato": 0.0}) == []
    assert rank_recipes({"tomato": float("nan")}) == []
    assert rank_recipes({"tomato": 7.0}, limit=3) == rank_recipes({"tomato": 1.0}, limit=3)


def test_bad_inputs_raise_plain_errors() -> None:
    with pytest.raises(BadInputError, match="Unknown diet filter keto"):
        rank_recipes({"tomato": 0.9}, diet_tags=["keto"])
    with pytest.raises(BadInputError, match="not a number"):
        rank_recipes([("tomato", "very")])
    with pytest.raises(BadInputError, match="pair"):
        rank_recipes([("tomato", 0.9, "extra")])
    with pytest.raises(BadInputError, match="time limit"):
        rank_recipes({"tomato": 0.9}, max_minutes=-1)


def test_limit_and_tie_breaks() -> None:
    detected = {"egg": 0.8, "tomato": 0.8}
    slow = make_recipe("slow", ["egg"], extras=("spinach",), minutes=60)
    fast = make_recipe("fast", ["egg"], extras=("chives",), minutes=10)
    bigger = make_recipe("bigger", ["egg", "tomato"], extras=("feta", "olives"), minutes=5)
    ranked = rank_recipes(detected, recipes=[slow, bigger, fast])
    # All three score 0.4: fewer missing items wins first, then the shorter time.
    assert [m.score for m in ranked] == pytest.approx([0.4, 0.4, 0.4])
    assert [m.recipe.id for m in ranked] == ["fast", "slow", "bigger"]
    assert [len(m.missing) for m in ranked] == [1, 1, 2]
    assert len(rank_recipes(detected, recipes=[slow, bigger, fast], limit=1)) == 1
    assert rank_recipes(detected, recipes=[slow, bigger, fast], limit=0) == []


# ----------------------------------------------------------------------------------------------- empty states


@pytest.mark.parametrize("empty", [{}, [], (), [("tomato", 0.0)]])
def test_empty_detection_gives_nothing_and_a_helpful_message(empty: Any) -> None:
    assert rank_recipes(empty) == []
    message = empty_state_message(empty)
    assert "No food was detected" in message and "photo" in message
    assert "less certain" not in message, "no pointer to a control that would show nothing more"
    assert "Show less certain items" in empty_state_message(empty, hidden_less_certain=2)


def test_message_for_unknown_foods_lists_the_vocabulary() -> None:
    message = empty_state_message({"sushi": 0.9})
    assert "sushi" in message and all(name in message for name in FOOD_CLASSES)


def test_no_message_when_there_are_recommendations() -> None:
    assert empty_state_message({"tomato": 0.9}, ["vegan"], 30) == ""


def test_message_names_the_time_filter_to_relax() -> None:
    pool = [make_recipe("slow-soup", ["carrot"], minutes=50, diet=("vegan", "vegetarian"))]
    assert rank_recipes({"carrot": 0.9}, recipes=pool, max_minutes=20) == []
    message = empty_state_message({"carrot": 0.9}, (), 20, recipes=pool)
    assert "20 minutes" in message and "at least 50 minutes" in message and "carrot" in message


def test_message_names_the_diet_filter_to_relax() -> None:
    pool = [
        make_recipe("cheese-toast", ["cheese", "bread"], diet=("vegetarian",)),
        make_recipe("gf-cheese-plate", ["cheese"], diet=("vegetarian", "gluten-free")),
    ]
    message = empty_state_message({"cheese": 0.9}, ["vegan", "gluten-free"], recipes=pool)
    assert rank_recipes({"cheese": 0.9}, recipes=pool, diet_tags=["vegan", "gluten-free"]) == []
    assert "vegan and gluten-free" in message and "'vegan' filter" in message
    assert "'gluten-free' filter" not in message


def test_message_when_both_filters_must_go() -> None:
    pool = [make_recipe("cheese-bake", ["cheese"], minutes=60)]
    message = empty_state_message({"cheese": 0.9}, ["vegan", "nut-free"], 10, recipes=pool)
    assert "diet filters" in message and "more time" in message


def test_messages_on_the_shipped_database() -> None:
    for detected, tags, minutes in [
        ({"pizza": 0.9}, ["gluten-free"], None),
        ({"cheese": 0.9}, ["vegan"], None),
        ({"banana": 0.9}, [], 2),
        ({"orange": 0.8, "egg": 0.7}, ["vegan", "nut-free"], 3),
    ]:
        assert rank_recipes(detected, diet_tags=tags, max_minutes=minutes) == []
        message = empty_state_message(detected, tags, minutes)
        assert message.startswith("No ") and message.endswith(".")
        assert "Try" in message or "Allow" in message
