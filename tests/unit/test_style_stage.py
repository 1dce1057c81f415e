"""Style stage: input preparation, classification and model loading."""

import numpy as np
import pytest
import torch

from fittingroom.errors import BadImageError, BadRequestError, NoGarmentError
from fittingroom.garments import COLOUR_NAMES, PATTERNS, Garment, StyleLabel
from fittingroom.registry import ModelManifest, ModelRegistry
from fittingroom.storage import LocalFolderStore
from fittingroom.style.model import build_model, load_model, model_architecture
from fittingroom.style.preprocess import garment_interior, letterbox, to_model_tensor
from fittingroom.style.stage import (
    classify_style,
    classify_style_batch,
    decode_style_classes,
    encode_style_classes,
    product_fabric,
    style_classes,
    style_input,
)


def _scene(h=60, w=80):
    """Grey photo with a red rectangle garment at rows 10..29, cols 20..59."""
    image = np.full((h, w, 3), 128, np.uint8)
    mask = np.zeros((h, w), bool)
    mask[10:30, 20:60] = True
    image[mask] = (200, 30, 40)
    return image, mask


def test_style_input_masks_background_and_letterboxes():
    image, mask = _scene()
    mask[10:30, 20:25] = False  # part of the box that is not garment
    out = style_input(image, Garment(mask, (20, 10, 60, 30), 1), trim=0.0)
    assert out.shape == (96, 96, 3) and out.dtype == np.uint8
    assert not (out == 128).all(axis=2).any(), "grey background leaked into the input"
    # a 40x20 box keeps its 2:1 aspect: 96x48 content, 24 rows of padding above and below
    assert (out[:24] == 0).all() and (out[-24:] == 0).all()
    assert (out[48, 30:] == (200, 30, 40)).all()
    assert (out[48, :10] == 0).all()


def test_style_input_trims_the_predicted_mask_edge():
    """A mask one ring too wide (background at its edge) is trimmed back to the garment's colour."""
    image = np.full((120, 120, 3), 250, np.uint8)
    image[20:100, 20:100] = (30, 60, 200)
    mask = np.zeros(image.shape[:2], bool)
    mask[17:103, 17:103] = True
    trimmed = style_input(image, Garment(mask, (17, 17, 103, 103), 1))
    assert not (trimmed == 250).all(axis=2).any(), "the light background at the mask's edge was kept"
    assert (trimmed[48, 48] == (30, 60, 200)).all()
    untrimmed = style_input(image, Garment(mask, (17, 17, 103, 103), 1), trim=0.0)
    assert (untrimmed == 250).all(axis=2).any()


def test_garment_interior_keeps_thin_garments_whole():
    thin = np.zeros((50, 50), bool)
    thin[10:40, 24:26] = True
    assert (garment_interior(thin) == thin).all()
    square = np.zeros((100, 100), bool)
    square[10:90, 10:90] = True
    interior = garment_interior(square)
    assert interior.sum() < square.sum() and not (interior & ~square).any()
    assert (garment_interior(square, trim=0.0) == square).all()


def test_style_input_clamps_boxes_past_the_border():
    image, _ = _scene()
    mask = np.zeros(image.shape[:2], bool)
    mask[50:, 70:] = True
    image[mask] = (35, 70, 190)
    out = style_input(image, Garment(mask, (70, 50, 95, 75), 1))
    assert out.shape == (96, 96, 3)
    assert (out[48, 48] == (35, 70, 190)).all()


@pytest.mark.parametrize("box", [(60, 30, 20, 10), (5, 5, 5, 5), (-50, -50, -10, -10), (0, 0, 1, 1)])
def test_odd_boxes_fall_back_to_the_mask(box):
    image, mask = _scene()
    out = style_input(image, Garment(mask, box, 1))
    assert (out == (200, 30, 40)).all(axis=2).sum() > 1000


def test_one_pixel_garment_still_gives_full_size_input():
    image, _ = _scene()
    mask = np.zeros(image.shape[:2], bool)
    mask[59, 79] = True
    out = style_input(image, Garment(mask, (79, 59, 80, 60), 1))
    assert out.shape == (96, 96, 3) and out.any()


def test_empty_mask_and_bad_inputs_raise_typed_errors():
    image, mask = _scene()
    with pytest.raises(NoGarmentError):
        style_input(image, Garment(np.zeros_like(mask), (0, 0, 10, 10), 1))
    with pytest.raises(BadImageError):
        style_input(image.astype(np.float32), Garment(mask, (20, 10, 60, 30), 1))
    with pytest.raises(BadImageError):
        style_input(image[..., 0], Garment(mask, (20, 10, 60, 30), 1))
    with pytest.raises(BadRequestError):
        style_input(image, Garment(mask[:10], (20, 10, 60, 30), 1))


def test_letterbox_keeps_tall_aspect():
    out = letterbox(np.full((100, 25, 3), 255, np.uint8), 96)
    cols = np.nonzero(out[48, :, 0])[0]
    assert len(cols) == 24 and cols[0] == 36


def _model(num_colours=8, num_patterns=5):
    torch.manual_seed(0)
    return build_model(model_architecture(num_colours=num_colours,
                                                num_patterns=num_patterns, width=8)).eval()


def test_classify_style_returns_label_with_product_confidence():
    image, mask = _scene()
    model = _model()
    garment = Garment(mask, (20, 10, 60, 30), 1)
    label = classify_style(model, COLOUR_NAMES, PATTERNS, image, garment, device="cpu")
    assert label.colour in COLOUR_NAMES and label.pattern in PATTERNS
    with torch.no_grad():
        c, p = model(to_model_tensor(style_input(image, garment)))
    expected = c.softmax(1).max().item() * p.softmax(1).max().item()
    assert label.confidence == pytest.approx(expected, rel=1e-5)
    assert 0 < label.confidence <= 1


def test_batch_matches_single_calls():
    image, mask = _scene()
    other = image.copy()
    other[mask] = (40, 150, 60)
    garments = [Garment(mask, (20, 10, 60, 30), 1)] * 2
    model = _model()
    batch = classify_style_batch(model, COLOUR_NAMES, PATTERNS, [image, other], garments, device="cpu")
    singles = [classify_style(model, COLOUR_NAMES, PATTERNS, im, g, device="cpu")
               for im, g in zip([image, other], garments)]
    assert [b.key for b in batch] == [s.key for s in singles]
    assert [b.confidence for b in batch] == pytest.approx([s.confidence for s in singles], rel=1e-4)
    assert classify_style_batch(model, COLOUR_NAMES, PATTERNS, [], [], device="cpu") == []


def test_class_encoding_round_trips():
    classes = encode_style_classes(["red", "blue"], ["solid", "dots", "print"])
    assert classes[0] == "colour:red" and classes[-1] == "pattern:print"
    assert decode_style_classes(classes) == (["red", "blue"], ["solid", "dots", "print"])


def test_load_style_model_from_registry(tmp_path):
    model = _model(2, 3)
    registry = ModelRegistry(LocalFolderStore(tmp_path))
    registry.save(ModelManifest("style", "stylenet", "v1",
                                model_architecture(num_colours=2, num_patterns=3, width=8),
                                classes=encode_style_classes(["red", "blue"], ["solid", "dots", "print"])),
                  model.state_dict(), half=True)
    loaded, manifest = load_model(registry, "stylenet")
    assert not loaded.training
    assert style_classes(manifest) == (["red", "blue"], ["solid", "dots", "print"])
    x = torch.rand(1, 3, 96, 96)
    with torch.no_grad():
        assert torch.allclose(loaded(x)[0], model(x)[0], atol=2e-2)


def test_a_product_named_solid_gets_its_fabric_tiled_only_when_the_fabric_shows_a_print():
    image = np.full((200, 200, 3), 245, np.uint8)
    mask = np.zeros((200, 200), bool)
    mask[20:180, 30:170] = True
    image[mask] = (40, 150, 60)
    garment = Garment(mask=mask, box=(30, 20, 170, 180), category=1)
    plain = image.copy()
    for cy, cx in ((60, 70), (75, 130), (110, 95), (140, 60), (150, 140), (95, 55)):
        image[cy - 6:cy + 6, cx - 6:cx + 6] = (25, 20, 60)  # a few dark marks: a sparse print
    assert product_fabric(image, garment, StyleLabel("green", "solid", 0.9)) is not None
    assert product_fabric(plain, garment, StyleLabel("green", "solid", 0.9)) is None
    assert product_fabric(plain, garment, StyleLabel("green", "print", 0.9)) is not None
