"""bf16 autocast keeps the try-on at parity with fp32 where it is the default (issue 11: PSNR ≥ 35 dB)."""

from __future__ import annotations

import numpy as np
import pytest

from fittingroom.cli.tryon import build_pipeline
from fittingroom.data.synth_render import render_shop
from fittingroom.images import SAMPLES_DIR, read_image
from fittingroom.settings import Settings, SettingsError


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return float("inf") if mse == 0 else 10.0 * np.log10(255.0**2 / mse)


def _tryon(tmp_path, **precision) -> np.ndarray:
    """The sample shopper in a plain green top: the generator's output is what shades it (a patterned
    product's own fabric would cover it)."""
    settings = Settings.from_env(store_dir=tmp_path / "store", device="cpu", **precision)
    product = render_shop(np.random.default_rng(3), (256, 320), (1, "green", "solid")).image
    return build_pipeline(settings).run(read_image(SAMPLES_DIR / "person.jpg"), product).image


def test_bf16_translation_keeps_the_result_at_parity_with_fp32(tmp_path):
    fp32 = _tryon(tmp_path, translation_precision="fp32")
    bf16 = _tryon(tmp_path, translation_precision="bf16")
    assert not np.array_equal(fp32, bf16), "bf16 made no difference: autocast did not reach the generator"
    assert _psnr(fp32, bf16) >= 35.0


def test_an_unknown_precision_is_refused_at_start():
    with pytest.raises(SettingsError):
        Settings(translation_precision="fp8").validate()


def test_auto_is_bf16_only_where_the_hardware_runs_it(monkeypatch):
    from fittingroom import precision

    assert Settings().translation_precision == "auto" and Settings().segmentation_precision == "fp32"
    for native in (True, False):
        monkeypatch.setattr(precision, "cpu_has_bf16", lambda native=native: native)
        assert precision.resolved_precision("cpu", "auto") == ("bf16" if native else "fp32")
        assert precision.resolved_precision("cpu", "fp32") == "fp32"
