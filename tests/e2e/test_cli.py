"""The command line at its edge: one-line errors, non-zero exits, folder mode carries on."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from fittingroom.cli.main import app
from fittingroom.images import SAMPLES_DIR

runner = CliRunner()


def _tryon(tmp_path: Path, person: Path, *extra: str):
    return runner.invoke(app, ["tryon", "--person", str(person), "--style", str(SAMPLES_DIR / "style.jpg"),
                               "--out", str(tmp_path / "out.png"), "--store", str(tmp_path / "store"),
                               "--device", "cpu", *extra])


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _png(array: np.ndarray, mode: str | None = None) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(array, mode=mode).save(buffer, format="PNG")
    return buffer.getvalue()


BAD_INPUTS = {
    "empty.jpg": (b"", "bad_image: .* is empty"),
    "text.jpg": (b"hello, I am not a photo", "bad_image: .* not an image"),
    "truncated.jpg": (None, "bad_image: .* corrupt or truncated"),
    "tiny.png": (_png(np.zeros((1, 1, 3), np.uint8)), "bad_image: .* 1×1"),
    "no_garment.png": (_png(np.full((320, 256, 3), 180, np.uint8)), "no_garment"),
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_bad_input_exits_non_zero_with_one_line(tmp_path, name):
    data, pattern = BAD_INPUTS[name]
    if data is None:
        whole = (SAMPLES_DIR / "person.jpg").read_bytes()
        data = whole[: len(whole) // 2]
    result = _tryon(tmp_path, _write(tmp_path / name, data))
    assert result.exit_code == 1
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ")
    import re

    assert re.search(pattern, lines[0]), lines[0]
    assert not (tmp_path / "out.png").exists()


def test_missing_file_is_reported(tmp_path):
    result = _tryon(tmp_path, tmp_path / "nope.jpg")
    assert result.exit_code == 1 and "no such file" in result.stderr


@pytest.mark.parametrize("mode", ["L", "RGBA"])
def test_grayscale_and_rgba_photos_are_handled(tmp_path, mode):
    person = Image.open(SAMPLES_DIR / "person.jpg").convert(mode)
    path = tmp_path / f"person_{mode}.png"
    person.save(path)
    result = _tryon(tmp_path, path, "--sheet", str(tmp_path / "sheet.png"))
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "out.png").size == person.size
    assert (tmp_path / "sheet.png").is_file()


def test_exif_rotated_photo_comes_out_upright(tmp_path):
    upright = Image.open(SAMPLES_DIR / "person.jpg")
    exif = Image.Exif()
    exif[0x0112] = 8  # stored rotated; viewers turn it 90° back
    path = tmp_path / "rotated.jpg"
    upright.transpose(Image.Transpose.ROTATE_270).save(path, exif=exif.tobytes(), quality=95)
    result = _tryon(tmp_path, path)
    assert result.exit_code == 0, result.output
    assert Image.open(tmp_path / "out.png").size == upright.size


def test_folder_mode_carries_on_and_reports_failures(tmp_path):
    people = tmp_path / "people"
    people.mkdir()
    shutil.copy(SAMPLES_DIR / "person.jpg", people / "a.jpg")
    _write(people / "b.jpg", b"broken")
    shutil.copy(SAMPLES_DIR / "person.jpg", people / "c.jpg")
    result = runner.invoke(app, ["tryon", "--person-dir", str(people), "--style", str(SAMPLES_DIR / "style.jpg"),
                                 "--out-dir", str(tmp_path / "results"), "--store", str(tmp_path / "store"),
                                 "--device", "cpu"])
    assert result.exit_code == 1
    assert "2/3 try-ons written" in result.stdout
    assert "failed: b.jpg + style.jpg: bad_image" in result.stderr
    written = sorted(p.name for p in (tmp_path / "results").iterdir())
    assert written == ["a__style.json", "a__style.png", "c__style.json", "c__style.png"]
    manifest = json.loads((tmp_path / "results" / "a__style.json").read_text())
    assert manifest["exact_colour"] is True and len(manifest["product_lab"]) == 3
