"""Choosing translation weights for a predicted style class."""

import pytest

from fittingroom.errors import ErrorCode, UnknownStyleError
from fittingroom.garments import StyleLabel
from fittingroom.style.stage import resolve_translation_key

AVAILABLE = ["red-solid", "blue-stripes", "purple-stripes", "white-dots"]


def test_exact_match_wins_for_every_fallback():
    for fallback in ("none", "nearest"):
        assert resolve_translation_key(StyleLabel("blue", "stripes"), AVAILABLE, fallback) == "blue-stripes"


def test_none_raises_unknown_style_listing_available_classes():
    with pytest.raises(UnknownStyleError) as info:
        resolve_translation_key(StyleLabel("green", "checks"), AVAILABLE)
    err = info.value
    assert err.code is ErrorCode.UNKNOWN_STYLE
    assert err.style_key == "green-checks"
    for key in AVAILABLE:
        assert key in str(err)


def test_nearest_prefers_same_pattern_then_nearest_colour():
    # red's prototype is nearer purple than blue; both have stripes
    assert resolve_translation_key(StyleLabel("red", "stripes"), AVAILABLE, "nearest") == "purple-stripes"
    # the only dots class wins although red-solid's colour is nearer black than white
    assert resolve_translation_key(StyleLabel("black", "dots"), AVAILABLE, "nearest") == "white-dots"


def test_nearest_falls_back_to_any_pattern():
    # no checks available: orange is nearest red over all classes
    assert resolve_translation_key(StyleLabel("orange", "checks"), AVAILABLE, "nearest") == "red-solid"
    # no print available: same colour with another pattern is nearest (distance 0)
    assert resolve_translation_key(StyleLabel("white", "print"), AVAILABLE, "nearest") == "white-dots"


def test_nearest_ignores_malformed_keys_and_raises_when_nothing_usable():
    assert resolve_translation_key(StyleLabel("red", "dots"), ["legacy", "green-dots"], "nearest") == "green-dots"
    with pytest.raises(UnknownStyleError, match="available classes: none"):
        resolve_translation_key(StyleLabel("red", "dots"), [], "nearest")


def test_unknown_fallback_mode_is_rejected():
    with pytest.raises(ValueError, match="nearest"):
        resolve_translation_key(StyleLabel("red", "solid"), AVAILABLE, "closest")
