"""The recipe book behind the Detect page: load the shipped recipes and rank them by what the camera saw.

Everything here is pure (no store, no model, no streamlit): the page passes the detector's output in and gets plain
dataclasses back. The database is `backend/serving/recipes.json`; every ingredient the detector can see is mapped to a
class of `backend.core.vocab.FOOD_CLASSES` through its `food` field, and kitchen staples (`PANTRY_STAPLES`) are assumed
to be at hand.
"""

from __future__ import annotations

import json
import math
import numbers
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from backend.core.errors import BadInputError, PlateOpsError
from backend.core.vocab import FOOD_CLASSES, PANTRY_STAPLES

DIET_TAGS: tuple[str, ...] = ("vegetarian", "vegan", "gluten-free", "dairy-free", "nut-free")
MEALS: tuple[str, ...] = ("breakfast", "lunch", "dinner", "snack", "dessert")
DEFAULT_RECIPES_PATH: Path = Path(__file__).resolve().parent / "recipes.json"

# How many missing ingredients `why` names before it summarises the rest as "and N more".
_WHY_MISSING_SHOWN = 4


class RecipeDataError(PlateOpsError):
    """The recipe database file is missing or does not follow the recipe format."""


@dataclass(frozen=True)
class Ingredient:
    """One line of a recipe's ingredient list.

    Attributes:
        item: What to use, as a cook would say it ("ripe tomatoes", "feta cheese").
        quantity: How much, free text ("2 medium", "to taste").
        food: The detector class this ingredient can come from, or None when the camera cannot see it.
    """

    item: str
    quantity: str
    food: str | None

    @property
    def is_staple(self) -> bool:
        """True for pantry staples (salt, oil, flour...) that a recipe may use without the camera seeing them."""
        return self.food is None and self.item.strip().lower() in PANTRY_STAPLES


@dataclass(frozen=True)
class Recipe:
    """A recipe from the shipped database.

    Attributes:
        id: Stable slug, unique in the database.
        name: Display name.
        description: One line.
        ingredients: Everything the recipe uses, staples included.
        steps: Method, in order.
        minutes: Total time, preparation included.
        servings: How many people it feeds.
        diet: Diet tags from `DIET_TAGS` that hold for every ingredient.
        cuisine: Cuisine, lower case ("italian").
        meal: One of `MEALS`.
    """

    id: str
    name: str
    description: str
    ingredients: tuple[Ingredient, ...]
    steps: tuple[str, ...]
    minutes: int
    servings: int
    diet: frozenset[str]
    cuisine: str
    meal: str

    @property
    def foods(self) -> frozenset[str]:
        """The detector classes this recipe uses."""
        return frozenset(ing.food for ing in self.ingredients if ing.food is not None)

    @property
    def key_ingredients(self) -> tuple[Ingredient, ...]:
        """The ingredients that count for matching: everything except pantry staples."""
        return tuple(ing for ing in self.ingredients if not ing.is_staple)


@dataclass(frozen=True)
class RecipeMatch:
    """How well a recipe fits what was detected.

    Attributes:
        recipe: The recipe.
        score: Confidence-weighted share of the recipe's non-staple ingredients that the detections cover (0..1);
            see `match_recipe`.
        covered: Detected classes the recipe uses, in recipe order.
        missing: Non-staple ingredients (item text) the detections do not cover, in recipe order.
        coverage: Unweighted share of non-staple ingredients covered (0..1).
        why: One plain sentence explaining the match.
    """

    recipe: Recipe
    score: float
    covered: list[str]
    missing: list[str]
    coverage: float
    why: str


# --------------------------------------------------------------------------------------------------- loading


def load_recipes(path: Path | None = None) -> tuple[Recipe, ...]:
    """Load and validate the recipe database (cached per file and modification time).

    Args:
        path: A recipes JSON file; the database shipped in `backend/serving/recipes.json` when None.

    Returns:
        The recipes in file order.

    Raises:
        RecipeDataError: The file is missing, is not JSON, or a recipe breaks the format (unknown food class,
            unknown diet tag, duplicate id, empty steps...). The message names the recipe and the field.
    """
    resolved = Path(path).resolve() if path is not None else DEFAULT_RECIPES_PATH
    try:
        mtime_ns = resolved.stat().st_mtime_ns
    except OSError as exc:
        raise RecipeDataError(f"Recipe database not found: {resolved} ({exc.strerror}).") from exc
    return _load_recipes_cached(resolved, mtime_ns)


@lru_cache(maxsize=8)
def _load_recipes_cached(path: Path, mtime_ns: int) -> tuple[Recipe, ...]:
    """Read and parse one recipes file; `mtime_ns` is part of the cache key so edits are picked up."""
    del mtime_ns
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise RecipeDataError(f"Cannot read the recipe database {path}: {exc.strerror}.") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RecipeDataError(f"The recipe database {path.name} is not valid JSON: {exc}.") from exc
    return parse_recipes(doc, source=path.name)


def parse_recipes(doc: Any, *, source: str = "recipes") -> tuple[Recipe, ...]:
    """Validate a decoded recipes document and turn it into `Recipe` objects.

    Args:
        doc: Either `{"schema_version": 1, "recipes": [...]}` or a bare list of recipe objects.
        source: Name used in error messages (usually the file name).

    Returns:
        The recipes in document order.

    Raises:
        RecipeDataError: The document breaks the recipe format; the message says where and how.
    """
    rows = doc.get("recipes") if isinstance(doc, dict) else doc
    if not isinstance(rows, list) or not rows:
        raise RecipeDataError(f"{source}: expected a non-empty list of recipes under the key 'recipes'.")
    recipes: list[Recipe] = []
    seen: set[str] = set()
    for index, row in enumerate(rows):
        recipe = _parse_recipe(row, where=f"{source}: recipe #{index + 1}")
        if recipe.id in seen:
            raise RecipeDataError(f"{source}: recipe id '{recipe.id}' is used more than once; ids must be unique.")
        seen.add(recipe.id)
        recipes.append(recipe)
    return tuple(recipes)


def _parse_recipe(row: Any, *, where: str) -> Recipe:
    """Validate one recipe object."""
    if not isinstance(row, dict):
        raise RecipeDataError(f"{where}: expected an object, got {type(row).__name__}.")
    rid = _text(row, "id", where)
    where = f"{where.rsplit(':', 1)[0]}: recipe '{rid}'"
    name = _text(row, "name", where)
    description = _text(row, "description", where)
    cuisine = _text(row, "cuisine", where)
    meal = _text(row, "meal", where)
    if meal not in MEALS:
        raise RecipeDataError(f"{where}: meal '{meal}' is not one of {', '.join(MEALS)}.")
    minutes = _positive_int(row, "minutes", where)
    servings = _positive_int(row, "servings", where)

    diet = row.get("diet", [])
    if not isinstance(diet, list) or not all(isinstance(tag, str) for tag in diet):
        raise RecipeDataError(f"{where}: 'diet' must be a list of tags.")
    for tag in diet:
        if tag not in DIET_TAGS:
            raise RecipeDataError(f"{where}: unknown diet tag '{tag}'; allowed tags are {', '.join(DIET_TAGS)}.")

    steps = row.get("steps")
    if not isinstance(steps, list) or not steps or not all(isinstance(s, str) and s.strip() for s in steps):
        raise RecipeDataError(f"{where}: 'steps' must be a non-empty list of non-empty strings.")

    raw_ingredients = row.get("ingredients")
    if not isinstance(raw_ingredients, list) or not raw_ingredients:
        raise RecipeDataError(f"{where}: 'ingredients' must be a non-empty list.")
    ingredients = tuple(_parse_ingredient(ing, where=where) for ing in raw_ingredients)
    if not any(ing.food for ing in ingredients):
        raise RecipeDataError(
            f"{where}: no ingredient maps to a food the detector knows; set 'food' on at least one ingredient."
        )
    return Recipe(
        id=rid,
        name=name,
        description=description,
        ingredients=ingredients,
        steps=tuple(s.strip() for s in steps),
        minutes=minutes,
        servings=servings,
        diet=frozenset(diet),
        cuisine=cuisine,
        meal=meal,
    )


def _parse_ingredient(raw: Any, *, where: str) -> Ingredient:
    """Validate one ingredient object."""
    if not isinstance(raw, dict):
        raise RecipeDataError(f"{where}: every ingredient must be an object with 'item', 'quantity' and 'food'.")
    item = _text(raw, "item", where)
    quantity = raw.get("quantity", "")
    if not isinstance(quantity, str):
        raise RecipeDataError(f"{where}: ingredient '{item}' has a non-text quantity.")
    food = raw.get("food")
    if food is not None and food not in FOOD_CLASSES:
        raise RecipeDataError(
            f"{where}: ingredient '{item}' has unknown food class '{food}'; "
            f"use one of {', '.join(FOOD_CLASSES)} or null."
        )
    return Ingredient(item=item, quantity=quantity.strip(), food=food)


def _text(row: dict[str, Any], key: str, where: str) -> str:
    """Return a required non-empty string field."""
    value = row.get(key)
    if not isinstance(value, str) or not value.strip():
        raise RecipeDataError(f"{where}: '{key}' must be a non-empty string.")
    return value.strip()


def _positive_int(row: dict[str, Any], key: str, where: str) -> int:
    """Return a required positive integer field (booleans rejected)."""
    value = row.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise RecipeDataError(f"{where}: '{key}' must be a positive whole number, got {value!r}.")
    return value


# --------------------------------------------------------------------------------------------------- matching

Detections = Mapping[str, float] | Iterable[tuple[str, float]] | Iterable[Mapping[str, Any]]


def normalize_detections(detected: Detections) -> dict[str, float]:
    """Reduce detector output to {class name: best confidence}, keeping only vocabulary classes.

    Args:
        detected: A mapping class -> confidence, an iterable of (class, confidence) pairs, or an iterable of
            detection dicts with "class" and "confidence" keys (the `jobs.detect` JSON shape). Repeated classes
            keep their highest confidence. Names are matched case-insensitively.

    Returns:
        Class name -> confidence in (0, 1]. Names outside `FOOD_CLASSES`, and confidences that are not finite or
        not positive, are dropped; confidences above 1 are capped at 1.

    Raises:
        BadInputError: An entry is not a (name, confidence) pair or its confidence is not a number.
    """
    best: dict[str, float] = {}
    for name, confidence in _pairs(detected):
        key = name.strip().lower()
        if key not in FOOD_CLASSES:
            continue
        if not math.isfinite(confidence) or confidence <= 0:
            continue
        value = min(confidence, 1.0)
        if value > best.get(key, 0.0):
            best[key] = value
    return best


def _pairs(detected: Detections) -> list[tuple[str, float]]:
    """Turn any accepted detection shape into (name, confidence) pairs."""
    if isinstance(detected, Mapping):
        entries: Iterable[Any] = detected.items()
    elif isinstance(detected, str | bytes):
        raise BadInputError("Detections must be class/confidence pairs, not a single string.")
    else:
        entries = detected
    pairs: list[tuple[str, float]] = []
    for entry in entries:
        if isinstance(entry, Mapping):
            name, confidence = entry.get("class", entry.get("name")), entry.get("confidence", 1.0)
        elif isinstance(entry, Sequence) and not isinstance(entry, str) and len(entry) == 2:
            name, confidence = entry
        else:
            raise BadInputError(f"Cannot read detection {entry!r}: expected a (class name, confidence) pair.")
        if not isinstance(name, str):
            raise BadInputError(f"Cannot read detection {entry!r}: the class name must be text.")
        if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real):
            raise BadInputError(f"Detection '{name}' has confidence {confidence!r}, which is not a number.")
        pairs.append((name, float(confidence)))
    return pairs


def match_recipe(recipe: Recipe, detected: Detections) -> RecipeMatch:
    """Score one recipe against detections, whether or not it covers anything.

    The score is the confidence-weighted coverage of the recipe's non-staple ingredients:

        score = sum(confidence[ing.food] for ing in key ingredients if ing.food was detected) / len(key ingredients)

    where key ingredients are all ingredients except pantry staples, and confidence is the best confidence per
    detected class. Two ingredients from the same class (lemon juice and lemon zest) both count. So a recipe scores
    1.0 only when the camera saw, with full confidence, everything it needs beyond the pantry. Adding a detection
    or raising a confidence never lowers a score. `coverage` is the same share without the confidence weights.

    Args:
        recipe: The recipe to score.
        detected: Detections in any shape `normalize_detections` accepts.

    Returns:
        The match; `score` is 0.0 and `covered` empty when the recipe uses none of the detected classes.
    """
    return _match(recipe, normalize_detections(detected))


def _match(recipe: Recipe, best: Mapping[str, float]) -> RecipeMatch:
    """Score a recipe against already-normalised detections."""
    key = recipe.key_ingredients
    weights = [best[ing.food] for ing in key if ing.food is not None and ing.food in best]
    # fsum is exact and order-independent, so equal inputs give equal scores and ties are real ties.
    score = math.fsum(weights) / len(key) if key else 0.0
    covered = _unique(ing.food for ing in recipe.ingredients if ing.food is not None and ing.food in best)
    missing = _unique(ing.item for ing in key if ing.food is None or ing.food not in best)
    coverage = len(weights) / len(key) if key else 0.0
    return RecipeMatch(
        recipe=recipe,
        score=score,
        covered=covered,
        missing=missing,
        coverage=coverage,
        why=_why(covered, missing),
    )


def _unique(values: Iterable[str]) -> list[str]:
    """Distinct values in first-seen order."""
    return list(dict.fromkeys(values))


def _why(covered: Sequence[str], missing: Sequence[str]) -> str:
    """One plain sentence: what the recipe uses from the photo and what else it needs."""
    if not covered:
        return "Uses nothing you have; " + (
            f"you would need {_join(_shorten(missing))}." if missing else "it only needs pantry staples."
        )
    head = f"Uses your {_join(covered)}"
    if not missing:
        return f"{head}; everything else is a pantry staple."
    return f"{head}; you also need {_join(_shorten(missing))}."


def _shorten(items: Sequence[str]) -> list[str]:
    """Keep the first few items and summarise the rest."""
    if len(items) <= _WHY_MISSING_SHOWN + 1:
        return list(items)
    return [*items[:_WHY_MISSING_SHOWN], f"{len(items) - _WHY_MISSING_SHOWN} more"]


def _join(words: Sequence[str]) -> str:
    """'a', 'a and b', 'a, b and c'."""
    if len(words) <= 1:
        return "".join(words)
    return f"{', '.join(words[:-1])} and {words[-1]}"


def _check_diet_tags(diet_tags: Collection[str]) -> frozenset[str]:
    """Validate requested diet tags."""
    if isinstance(diet_tags, str):
        diet_tags = (diet_tags,)
    tags = frozenset(tag.strip().lower() for tag in diet_tags)
    unknown = sorted(tags - set(DIET_TAGS))
    if unknown:
        raise BadInputError(f"Unknown diet filter {', '.join(unknown)}; choose from {', '.join(DIET_TAGS)}.")
    return tags


def _passes(recipe: Recipe, tags: frozenset[str], max_minutes: int | None) -> bool:
    """True when a recipe has every requested tag and fits the time limit."""
    return tags <= recipe.diet and (max_minutes is None or recipe.minutes <= max_minutes)


def rank_recipes(
    detected: Detections,
    *,
    recipes: Iterable[Recipe] | None = None,
    diet_tags: Collection[str] = (),
    max_minutes: int | None = None,
    limit: int | None = 10,
) -> list[RecipeMatch]:
    """Recommend recipes for what the detector saw.

    Each recipe is scored with `match_recipe` (confidence-weighted share of its non-staple ingredients that the
    detections cover). Only recipes that use at least one detected class and pass the filters are returned, best
    first; equal scores are ordered by fewer missing ingredients, then shorter time, then name.

    Args:
        detected: Class name -> best confidence, or (class, confidence) pairs (the maximum per class is used), or
            `jobs.detect`-style detection dicts. Names outside the vocabulary are ignored.
        recipes: Recipes to rank; the shipped database when None.
        diet_tags: Tags from `DIET_TAGS` that every returned recipe must carry.
        max_minutes: Longest total time allowed; None for no limit.
        limit: Most matches to return; None for all.

    Returns:
        Matches sorted by score, highest first; empty when nothing known was detected or the filters exclude
        every candidate (`empty_state_message` explains which).

    Raises:
        BadInputError: An unknown diet tag, a negative time limit or limit, or unreadable detections.
    """
    tags = _check_diet_tags(diet_tags)
    if max_minutes is not None and max_minutes < 0:
        raise BadInputError(f"The time limit must be zero or more minutes, got {max_minutes}.")
    if limit is not None and limit < 0:
        raise BadInputError(f"The number of recipes to show must be zero or more, got {limit}.")
    best = normalize_detections(detected)
    if not best:
        return []
    pool = load_recipes() if recipes is None else recipes
    matches = [
        match for recipe in pool if _passes(recipe, tags, max_minutes) and (match := _match(recipe, best)).covered
    ]
    matches.sort(key=lambda m: (-m.score, len(m.missing), m.recipe.minutes, m.recipe.name))
    return matches if limit is None else matches[:limit]


def empty_state_message(
    detected: Detections,
    diet_tags: Collection[str] = (),
    max_minutes: int | None = None,
    *,
    recipes: Iterable[Recipe] | None = None,
    hidden_less_certain: int = 0,
) -> str:
    """Explain, in plain words, why `rank_recipes` found nothing and what to change.

    Args:
        detected: The same detections given to `rank_recipes`.
        diet_tags: The same diet filters.
        max_minutes: The same time limit.
        recipes: The same recipe pool; the shipped database when None.
        hidden_less_certain: Less certain items found but not shown; only then does the message suggest showing
            them (a suggestion that would change nothing is never made).

    Returns:
        A message for the page's empty state, or "" when there are recommendations to show.

    Raises:
        BadInputError: The same bad inputs `rank_recipes` rejects.
    """
    pool = tuple(load_recipes() if recipes is None else recipes)
    tags = _check_diet_tags(diet_tags)
    pairs = _pairs(detected)  # read once: `detected` may be a one-shot iterator
    best = normalize_detections(pairs)
    if not best:
        unknown = _unique(name.strip() for name, _ in pairs if name.strip().lower() not in FOOD_CLASSES)
        if unknown:
            return (
                f"The recipe book has nothing for {_join(unknown)}. It knows {_join(list(FOOD_CLASSES))}; "
                "try a photo with one of those."
            )
        more = " or turn on “Show less certain items”" if hidden_less_certain > 0 else ""
        return (
            "No food was detected, so there is nothing to cook yet. "
            f"Try a closer, well-lit photo with the food clearly in view{more}."
        )
    if rank_recipes(best, recipes=pool, diet_tags=tags, max_minutes=max_minutes, limit=1):
        return ""
    items = _join([name for name in FOOD_CLASSES if name in best])
    anything = rank_recipes(best, recipes=pool, limit=None)
    if not anything:
        return f"No recipe in the book uses {items} yet."
    diet_words = _join([tag for tag in DIET_TAGS if tag in tags])
    diet_ok = rank_recipes(best, recipes=pool, diet_tags=tags, limit=None)
    if diet_ok:
        # The diet filters leave recipes; only the time limit removes them.
        quickest = min(m.recipe.minutes for m in diet_ok)
        kind = f"{diet_words} recipe" if tags else "recipe"
        return (
            f"No {kind} with your {items} is ready within {max_minutes} minutes. "
            f"Allow at least {quickest} minutes to see one."
        )
    helpful = [
        tag
        for tag in DIET_TAGS
        if tag in tags and rank_recipes(best, recipes=pool, diet_tags=tags - {tag}, max_minutes=max_minutes, limit=1)
    ]
    within = f" within {max_minutes} minutes" if max_minutes is not None else ""
    head = f"No {diet_words} recipe uses your {items}{within}."
    if helpful:
        options = " or ".join(f"the '{tag}' filter" for tag in helpful)
        return f"{head} Try removing {options}."
    if max_minutes is not None and not rank_recipes(best, recipes=pool, max_minutes=max_minutes, limit=1):
        return f"{head} Try removing the diet filters and allowing more time."
    return f"{head} Try removing the diet filters."
