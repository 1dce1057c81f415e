"""Decoding untrusted image bytes: every bad input gets a typed error."""

import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from fittingroom.errors import BadImageError, ImageTooLargeError
from fittingroom.images import decode_image, encode_image, encode_png_rgb, read_image


def _encode(pil: Image.Image, fmt: str = "PNG", **kw) -> bytes:
    buffer = io.BytesIO()
    pil.save(buffer, format=fmt, **kw)
    return buffer.getvalue()


def _rgb(w=40, h=30):
    arr = np.zeros((h, w, 3), np.uint8)
    arr[:, : w // 2] = (255, 0, 0)
    return Image.fromarray(arr)


def test_rgb_png_round_trips():
    arr = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    assert np.array_equal(decode_image(encode_image(arr)), arr)


@pytest.mark.parametrize("shape", [(1, 1, 3), (16, 1, 3), (7, 13, 3), (97, 130, 3)])
def test_fast_png_is_a_standard_png_with_the_same_pixels(shape):
    """Pillow and OpenCV (libpng) both read the Sub-filtered, ISA-L-deflated PNG back exactly."""
    import cv2

    arr = np.random.default_rng(1).integers(0, 256, shape, dtype=np.uint8)
    data = encode_png_rgb(arr)
    Image.open(io.BytesIO(data)).verify()  # chunk CRCs and structure
    assert np.array_equal(np.asarray(Image.open(io.BytesIO(data)).convert("RGB")), arr)
    assert np.array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)[:, :, ::-1], arr)


def test_png_of_a_strided_view_encodes_the_view():
    arr = np.random.default_rng(2).integers(0, 256, (20, 40, 3), dtype=np.uint8)[:, ::2]
    assert np.array_equal(decode_image(encode_image(arr)), arr)


@pytest.mark.parametrize(
    "data, match",
    [
        (b"", "empty"),
        (b"this is not an image at all", "not an image"),
        (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "image"),
    ],
)
def test_non_images_are_bad_images(data, match):
    with pytest.raises(BadImageError, match=match):
        decode_image(data)


def test_truncated_jpeg_is_a_bad_image():
    data = _encode(_rgb(200, 200), "JPEG")
    with pytest.raises(BadImageError, match="corrupt or truncated"):
        decode_image(data[: len(data) // 2])


def test_one_pixel_image_is_rejected_with_its_size():
    with pytest.raises(BadImageError, match="1×1"):
        decode_image(_encode(_rgb(1, 1)))


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 16)) + chunk(b"IEND", b"")


def test_decompression_bomb_is_refused_before_decoding():
    with pytest.raises(ImageTooLargeError, match="pixels"):
        decode_image(_png_header_only(60000, 60000))


def test_pixel_and_byte_limits_are_configurable():
    data = _encode(_rgb(100, 100))
    with pytest.raises(ImageTooLargeError, match="limit is 5000"):
        decode_image(data, max_pixels=5000)
    with pytest.raises(ImageTooLargeError, match="bytes"):
        decode_image(data, max_bytes=10)


def test_grayscale_becomes_rgb():
    gray = Image.fromarray(np.full((20, 30), 77, np.uint8), mode="L")
    out = decode_image(_encode(gray))
    assert out.shape == (20, 30, 3) and (out == 77).all()


def test_rgba_is_flattened_onto_white():
    rgba = np.zeros((20, 20, 4), np.uint8)
    rgba[:10, :, :] = (0, 0, 255, 255)
    out = decode_image(_encode(Image.fromarray(rgba, mode="RGBA")))
    assert tuple(out[0, 0]) == (0, 0, 255)
    assert tuple(out[15, 0]) == (255, 255, 255)


def test_exif_rotation_is_applied():
    image = _rgb(40, 20)
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    out = decode_image(_encode(image, "JPEG", exif=exif.tobytes(), quality=95))
    assert out.shape[:2] == (40, 20)
    assert out[2, 10, 0] > 200 and out[37, 10, 0] < 60


def test_read_image_reports_missing_files_and_folders(tmp_path):
    with pytest.raises(BadImageError, match="no such file"):
        read_image(tmp_path / "nope.jpg")
    with pytest.raises(BadImageError, match="directory"):
        read_image(tmp_path)
