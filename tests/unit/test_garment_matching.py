"""Which of the shopper's garments a product replaces."""

import numpy as np
import pytest

from fittingroom.errors import NoGarmentError
from fittingroom.garments import Garment, category_id
from fittingroom.segmentation.stage import choose_person_garment, garment_region, match_garment


def _g(name: str, area: int, score: float = 0.9) -> Garment:
    mask = np.zeros((50, 50), bool)
    mask.flat[:area] = True
    return Garment(mask=mask, box=(0, 0, 50, 50), category=category_id(name), score=score)


def test_same_category_wins_over_size():
    shirt, trousers = _g("short_sleeved_shirt", 300), _g("trousers", 900)
    assert match_garment([trousers, shirt], category_id("short_sleeved_shirt")) is shirt


def test_same_body_region_when_category_differs():
    vest, skirt = _g("vest", 200), _g("skirt", 800)
    assert match_garment([skirt, vest], category_id("long_sleeved_outwear")) is vest
    assert match_garment([skirt, vest], category_id("shorts")) is skirt


def test_falls_back_to_largest_and_errors_when_empty():
    dress = _g("sling_dress", 100)
    trousers = _g("trousers", 700)
    assert match_garment([dress, trousers], category_id("short_sleeved_shirt")) is trousers
    with pytest.raises(NoGarmentError):
        match_garment([], dress.category)


def test_policies_and_regions():
    shirt, trousers = _g("short_sleeved_shirt", 300), _g("trousers", 900)
    product = category_id("long_sleeved_shirt")
    assert choose_person_garment([shirt, trousers], "match", product) is shirt
    assert choose_person_garment([shirt, trousers], "largest", product) is trousers
    assert choose_person_garment([shirt, trousers], "trousers", product) is trousers
    assert [garment_region(i) for i in (1, 7, 13)] == ["top", "bottom", "dress"]
