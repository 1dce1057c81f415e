"""The garment vocabulary: DeepFashion2's 13 categories and the style classes.

A style class is a colour × pattern pair; its key (``"red-stripes"``) names the
translation weights in the model registry.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# DeepFashion2 category ids are 1-based; index 0 is reserved for background.
CATEGORIES: tuple[str, ...] = (
    "short_sleeved_shirt",
    "long_sleeved_shirt",
    "short_sleeved_outwear",
    "long_sleeved_outwear",
    "vest",
    "sling",
    "shorts",
    "trousers",
    "skirt",
    "short_sleeved_dress",
    "long_sleeved_dress",
    "vest_dress",
    "sling_dress",
)
NUM_CATEGORIES = len(CATEGORIES)


def category_name(category_id: int) -> str:
    """Name of a 1-based DeepFashion2 category id."""
    if not 1 <= category_id <= NUM_CATEGORIES:
        raise ValueError(f"category id {category_id} outside 1..{NUM_CATEGORIES}")
    return CATEGORIES[category_id - 1]


def category_id(name: str) -> int:
    """1-based DeepFashion2 id of a category name."""
    try:
        return CATEGORIES.index(name) + 1
    except ValueError:
        raise ValueError(f"unknown category '{name}'; known: {', '.join(CATEGORIES)}") from None


# Colour names with the sRGB prototype the synthetic data draws them around.
COLOURS: dict[str, tuple[int, int, int]] = {
    "black": (30, 30, 34),
    "white": (235, 235, 230),
    "red": (200, 30, 40),
    "orange": (240, 130, 20),
    "yellow": (235, 210, 40),
    "green": (40, 150, 60),
    "blue": (35, 70, 190),
    "purple": (120, 50, 160),
}
COLOUR_NAMES: tuple[str, ...] = tuple(COLOURS)
PATTERNS: tuple[str, ...] = ("solid", "stripes", "checks", "dots", "print")


@dataclass(frozen=True)
class StyleLabel:
    """A product's style class as predicted by the style classifier.

    ``product_lab`` is the product garment's measured colour (CIELAB), which the
    exact-colour step moves the translated garment to; ``None`` when unmeasured.
    """

    colour: str
    pattern: str
    confidence: float = 1.0
    product_lab: tuple[float, float, float] | None = None

    @property
    def key(self) -> str:
        """Registry name of the translation weights for this class."""
        return style_key(self.colour, self.pattern)


def style_key(colour: str, pattern: str) -> str:
    """``"<colour>-<pattern>"``, the translation model name for a style class."""
    if colour not in COLOURS:
        raise ValueError(f"unknown colour '{colour}'; known: {', '.join(COLOUR_NAMES)}")
    if pattern not in PATTERNS:
        raise ValueError(f"unknown pattern '{pattern}'; known: {', '.join(PATTERNS)}")
    return f"{colour}-{pattern}"


def parse_style_key(key: str) -> tuple[str, str]:
    """Inverse of :func:`style_key`."""
    colour, sep, pattern = key.partition("-")
    if not sep:
        raise ValueError(f"style key '{key}' is not '<colour>-<pattern>'")
    style_key(colour, pattern)
    return colour, pattern


@dataclass
class Garment:
    """One segmented garment in a photo.

    ``box`` is ``(x1, y1, x2, y2)`` in integer pixels with x2/y2 exclusive, so the
    crop is ``image[y1:y2, x1:x2]``; ``mask`` is a boolean array of the photo's
    height × width; ``category`` is the 1-based DeepFashion2 id.
    """

    mask: "np.ndarray"
    box: tuple[int, int, int, int]
    category: int
    score: float = 1.0

    @property
    def category_name(self) -> str:
        return category_name(self.category)

    @property
    def area(self) -> int:
        return int(self.mask.sum())
