"""``fittingroom evaluate tryon`` on generated pairs: table, JSON and grid."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np
from typer.testing import CliRunner

from fittingroom.cli.main import app
from fittingroom.data.synth_render import render_shop, render_user

runner = CliRunner()


def _write(path: Path, rgb: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR))


def test_evaluate_tryon_writes_table_json_and_grid(tmp_path):
    for index, colour in enumerate(("blue", "white")):
        pic = render_user(np.random.default_rng([index, 7]), (256, 320), [(1, colour, "solid"), (8, "black", "solid")])
        _write(tmp_path / "persons" / f"shopper{index}.png", pic.image)
        _write(tmp_path / "masks" / f"shopper{index}.png", pic.masks[0].astype(np.uint8) * 255)
    _write(tmp_path / "products" / "green-solid-000.png", render_shop(np.random.default_rng(3), (256, 320), (1, "green", "solid")).image)
    result = runner.invoke(app, ["evaluate", "tryon", "--persons", str(tmp_path / "persons"),
                                 "--products", str(tmp_path / "products"), "--masks", str(tmp_path / "masks"),
                                 "--out-dir", str(tmp_path / "eval"), "--store", str(tmp_path / "store"),
                                 "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "outside_share" in result.stdout and "shopper1" in result.stdout
    report = json.loads((tmp_path / "eval" / "tryon_eval.json").read_text())
    summary = report["summary"]
    assert summary["pairs"] == 2 and summary["ran"] == 2 and summary["pairs_with_known_class"] == 2
    assert summary["product_named_right"] == 1.0
    for pair in report["pairs"]:
        assert pair["product_truth"] == pair["product_class"] == "green-solid"
        assert 0.0 <= pair["iou"] <= 1.0 and pair["iou"] > 0.3
        assert pair["delta_e"] < 10.0
    grid = cv2.imread(str(tmp_path / "eval" / "tryon_eval.png"))
    assert grid is not None and grid.shape[:2] == (3 * 220, 2 * 200)  # header + 2 persons; photo + 1 product
    assert len(list((tmp_path / "eval" / "results").glob("*.png"))) == 2
