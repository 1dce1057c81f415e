"""Image decoding and encoding at the edges, with the bad-input guards in one place.

Everything inside the stages is an ``H×W×3`` ``uint8`` RGB array; this module is
where untrusted bytes become such an array or a typed error. It guards against
decompression bombs by reading the header's size before decoding any pixels.
"""

from __future__ import annotations

import io
import warnings
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from fittingroom.errors import BadImageError, ImageTooLargeError

# The bundled sample photos (person.jpg, style.jpg) used by the demo, benches and tests.
SAMPLES_DIR = Path(__file__).parent / "samples"
DEFAULT_MAX_PIXELS = 40_000_000
DEFAULT_MAX_BYTES = 30 * 1024 * 1024
DEFAULT_MIN_SIDE = 16


def decode_image(
    data: bytes,
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    max_bytes: int = DEFAULT_MAX_BYTES,
    min_side: int = DEFAULT_MIN_SIDE,
    name: str = "image",
) -> np.ndarray:
    """Decode untrusted bytes into an RGB ``uint8`` array, upright per EXIF.

    Grayscale and palette images become RGB; transparency is flattened onto white
    (product photos with a transparent background stay a clean backdrop).
    """
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
    """Encode an RGB array as PNG (lossless, default), PPM (lossless, uncompressed) or JPEG bytes.

    PNG uses zlib level 1: about five times faster than the default level on a
    photo, for files about a fifth larger; a try-on result is encoded once per request.
    """
    buffer = io.BytesIO()
    pil = Image.fromarray(np.ascontiguousarray(image, dtype=np.uint8))
    kind = fmt.lower()
    if kind in ("jpg", "jpeg"):
        pil.save(buffer, format="JPEG", quality=quality)
    elif kind == "ppm":
        pil.save(buffer, format="PPM")
    else:
        pil.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


def write_image(path: str | Path, image: np.ndarray) -> Path:
    """Write an RGB array; the format follows the file suffix (PNG unless .jpg/.jpeg)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fmt = "jpeg" if path.suffix.lower() in (".jpg", ".jpeg") else "png"
    path.write_bytes(encode_image(image, fmt))
    return path
