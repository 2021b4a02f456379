"""Opening images as the 8-bit RGB that vision processors expect, without losing high-depth images.

PIL's ``convert("RGB")`` clips 16-bit (``I;16``), 32-bit integer (``I``) and float (``F``) images to 0..255,
which turns a typical 16-bit PNG white. ``to_rgb`` scales them into 8 bits instead; it is the one conversion
used wherever images are opened for training, GRPO and evaluation.
"""

from __future__ import annotations

import io
import os
import stat

import numpy as np
from PIL import Image

HIGH_DEPTH_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I", "F")


def _scaled_to_8bit(image: Image.Image) -> Image.Image:
    """A grayscale ``L`` image: 16-bit values divided by 257, floats in [0, 1] times 255, anything else
    (negative values, integers over 16 bits, other float ranges) stretched from its minimum to its maximum."""
    values = np.asarray(image, dtype=np.float64)
    low, high = float(values.min()), float(values.max())
    if image.mode.startswith("I;16"):
        top = 65535.0
    elif image.mode == "F":
        top = 1.0 if low >= 0 and high <= 1 else None
    else:  # "I": 32-bit integers, usually a 16-bit image widened
        top = next((t for t in (255.0, 65535.0) if low >= 0 and high <= t), None)
    if top is None:
        values, top = values - low, max(high - low, 1e-12)
    return Image.fromarray(np.round(values / top * 255).astype(np.uint8))


def to_rgb(image: Image.Image) -> Image.Image:
    """A new 8-bit RGB image; high-depth images are scaled, not clipped."""
    if image.mode in HIGH_DEPTH_MODES:
        image = _scaled_to_8bit(image)
    return image.convert("RGB")


class NotARegularFileError(OSError):
    """An image path naming a FIFO, device, socket or folder: opening one could block forever."""


def check_regular_file(path: str | os.PathLike) -> None:
    """Raise ``FileNotFoundError`` if ``path`` does not exist, ``NotARegularFileError`` if it is not a regular
    file (symlinks followed), before anything opens it."""
    mode = os.stat(path).st_mode
    if not stat.S_ISREG(mode):
        raise NotARegularFileError(f"{path} is not a regular file.")


def open_rgb(source: str | bytes | Image.Image) -> Image.Image:
    """``to_rgb`` of a file path, encoded bytes or a PIL image, fully decoded (a truncated file fails here).

    Raises ``FileNotFoundError``, ``OSError`` (unreadable, or not a regular file) or
    ``PIL.Image.DecompressionBombError``.
    """
    if isinstance(source, Image.Image):
        return to_rgb(source)
    if not isinstance(source, bytes):
        check_regular_file(source)
    with Image.open(io.BytesIO(source) if isinstance(source, bytes) else source) as handle:
        return to_rgb(handle)


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()
