"""The one shared food vocabulary.

The demo dataset draws these classes, the detector learns them, and the recipe database maps its ingredients
onto them. Keep the list here and nowhere else.
"""

from __future__ import annotations

FOOD_CLASSES: tuple[str, ...] = (
    "apple",
    "banana",
    "bread",
    "broccoli",
    "carrot",
    "cheese",
    "cucumber",
    "egg",
    "lemon",
    "orange",
    "pizza",
    "tomato",
)

# Kitchen staples a recipe may use without the camera seeing them (nobody photographs the salt).
PANTRY_STAPLES: frozenset[str] = frozenset(
    {"salt", "black pepper", "olive oil", "vegetable oil", "water", "butter", "sugar", "flour", "vinegar"}
)

# Distinct, colour-blind-friendly colours per class for drawing boxes (RGB hex).
CLASS_COLORS: dict[str, str] = {
    "apple": "#d62728",
    "banana": "#e6c229",
    "bread": "#a0522d",
    "broccoli": "#2ca02c",
    "carrot": "#ff7f0e",
    "cheese": "#f2d16b",
    "cucumber": "#17becf",
    "egg": "#9e9ac8",
    "lemon": "#bcbd22",
    "orange": "#fd8d3c",
    "pizza": "#e377c2",
    "tomato": "#8c1c13",
}


def color_for(name: str) -> str:
    """Return the display colour for a class name (a stable fallback for names outside the vocabulary)."""
    if name in CLASS_COLORS:
        return CLASS_COLORS[name]
    palette = list(CLASS_COLORS.values())
    return palette[sum(map(ord, name)) % len(palette)]
