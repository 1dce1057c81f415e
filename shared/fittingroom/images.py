"""Image decoding and encoding at the edges, with the bad-input guards in one place.

Everything inside the stages is an ``H×W×3`` ``uint8`` RGB array; this module is
where untrusted bytes become such an array or a typed error. It guards against
decompression bombs by reading the header's size before decoding any pixels.
"""

from __future__ import annotations

import io
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
from isal import isal_zlib
from PIL import Image, ImageOps, UnidentifiedImageError

from fittingroom.errors import BadImageError, ImageTooLargeError

# The bundled sample photos (person.jpg, style.jpg) used by the demo, benches and tests.
SAMPLES_DIR = Path(__file__).parent / "samples"
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_BYTES = 30 * 1024 * 1024
DEFAULT_MIN_SIDE = 16
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
PNG_FILTER_SUB = 1


def open_image(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    min_side: int = DEFAULT_MIN_SIDE,
    name: str = "image",
) -> Image.Image:
    """Untrusted bytes as an image read up to its header: a supported format within the byte,
    pixel and side limits. No pixel is decoded yet, so a decompression bomb costs nothing."""
    if not data:
        raise BadImageError(f"{name} is empty (0 bytes)")
    if len(data) > max_bytes:
        raise ImageTooLargeError(f"{name} is {len(data)} bytes; the limit is {max_bytes}")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise BadImageError(f"{name} is not an image in a supported format") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ImageTooLargeError(f"{name} declares too many pixels") from None
        except Exception as exc:
            raise BadImageError(f"{name} could not be read: {exc}") from None
    width, height = image.size
    if width * height > max_pixels:
        raise ImageTooLargeError(
            f"{name} is {width}×{height} = {width * height} pixels; the limit is {max_pixels}"
        )
    if min(width, height) < min_side:
        raise BadImageError(f"{name} is {width}×{height}; each side must be at least {min_side} px")
    return image


def decode_image(data: bytes, *, name: str = "image", **limits: int) -> np.ndarray:
    """Decode untrusted bytes into an RGB ``uint8`` array, upright per EXIF (limits as :func:`open_image`).

    Grayscale and palette images become RGB; transparency is flattened onto white
    (product photos with a transparent background stay a clean backdrop).
    """
    image = open_image(data, name=name, **limits)
    try:
        image.load()
        image = ImageOps.exif_transpose(image) or image
    except Exception as exc:
        raise BadImageError(f"{name} is corrupt or truncated: {exc}") from None
    return _to_rgb_array(image)


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        backdrop = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(backdrop, rgba)
    elif image.mode.startswith("I;16") or image.mode in ("I", "F"):
        scaled = np.asarray(image, dtype=np.float64)
        peak = scaled.max() or 1.0
        image = Image.fromarray((scaled / peak * 255).astype(np.uint8))
    return np.array(image.convert("RGB"), dtype=np.uint8)


def read_image(path: str | Path, **limits: int) -> np.ndarray:
    """Read and decode an image file; a missing or unreadable file is a BadImageError."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BadImageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise BadImageError(f"{path} is a directory, not an image") from None
    except OSError as exc:
        raise BadImageError(f"{path}: cannot read: {exc.strerror}") from None
    return decode_image(data, name=str(path), **limits)


def encode_image(image: np.ndarray, fmt: str = "png", quality: int = 95) -> bytes:
    """Encode an RGB array as PNG (lossless, default), PPM (lossless, uncompressed) or JPEG bytes."""
    pixels = np.ascontiguousarray(image, dtype=np.uint8)
    kind = fmt.lower()
    if kind == "png" and pixels.ndim == 3 and pixels.shape[2] == 3:
        return encode_png_rgb(pixels)
    buffer = io.BytesIO()
    pil = Image.fromarray(pixels)
    if kind in ("jpg", "jpeg"):
        pil.save(buffer, format="JPEG", quality=quality)
    elif kind == "ppm":
        pil.save(buffer, format="PPM")
    else:
        pil.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind)))


def encode_png_rgb(image: np.ndarray) -> bytes:
    """A standard 8-bit RGB PNG of an ``H×W×3`` ``uint8`` array, made for speed.

    Every row uses PNG's Sub filter (each byte minus the same channel of the pixel to
    its left, modulo 256, one numpy subtraction), and the rows are deflated by ISA-L
    (``isal``) at level 1. A 1024×768 photo encodes in about 6 ms and comes out a
    little smaller than Pillow's at its fastest level, which takes about 43 ms
    trying filters row by row. A try-on result is encoded once per request.
    """
    height, width, channels = image.shape
    if image.dtype != np.uint8 or channels != 3:
        raise ValueError(f"encode_png_rgb takes H×W×3 uint8, got {image.dtype} {image.shape}")
    rows = image.reshape(height, width * 3)
    filtered = np.empty((height, width * 3 + 1), dtype=np.uint8)
    filtered[:, 0] = PNG_FILTER_SUB
    filtered[:, 1:4] = rows[:, :3]
    np.subtract(rows[:, 3:], rows[:, :-3], out=filtered[:, 4:])
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)  # 8-bit RGB, deflate, no interlace
    return b"".join((PNG_SIGNATURE, _png_chunk(b"IHDR", header),
                     _png_chunk(b"IDAT", isal_zlib.compress(filtered.data, 1)), _png_chunk(b"IEND", b"")))


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Write an RGB array; the format follows the file suffix (PNG unless .jpg/.jpeg)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "jpeg" if path.suffix.lower() in (".jpg", ".jpeg") else "png"
    path.write_bytes(encode_image(image, fmt))
    return path
