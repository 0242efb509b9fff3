"""Decode any image file into one square uint8 training row: mode, orientation, alpha, resize.

Every input becomes RGB (or L for one channel): EXIF orientation is applied, alpha is composited
on a stated background colour, 16-bit images are scaled (not clipped) to 8 bits. Resizing is
Lanczos; JPEGs are decoded at a reduced DCT scale first (PIL's `draft`) when the target is at
least `DRAFT_OVERSAMPLE` times smaller, so Lanczos still does the last >= 2x reduction.
Inputs that cannot be used raise `Rejected` with a short reason ("truncated", ...); so does
an image picodiff generated (its PNG `picodiff` text chunk, see `picodiff.provenance`) unless
`allow_generated`. Only those chunks are detected: a re-encoded copy (a JPEG re-save, a
screenshot) has lost them and passes as a real image.
"""

from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np
from PIL import Image, ImageColor, ImageOps, UnidentifiedImageError

from ..provenance import read_provenance

ResizePolicy = Literal["center-crop", "squash", "pad"]
RESIZE_POLICIES: tuple[str, ...] = get_args(ResizePolicy)
IMAGE_SUFFIXES = frozenset(
    {".jpg", ".jpeg", ".jpe", ".png", ".webp", ".bmp", ".tif", ".tiff", ".gif"}
)
DEFAULT_MAX_PIXELS = Image.MAX_IMAGE_PIXELS or 89_478_485  # PIL's own bomb threshold
DRAFT_OVERSAMPLE = 2  # decode JPEGs to >= 2x the target side, then Lanczos the rest
_ALPHA_MODES = frozenset({"RGBA", "LA", "PA", "RGBa", "La"})
_SIXTEEN_BIT_MODES = frozenset({"I", "I;16", "I;16B", "I;16L", "I;16N"})


class Rejected(Exception):
    """An input that cannot become a training row; `reason` is a short category."""

    def __init__(self, reason: str, detail: str = ""):
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason, self.detail = reason, detail

    def __reduce__(self):  # survive the trip back from a worker process
        return Rejected, (self.reason, self.detail)


@dataclass(frozen=True)
class ImageSpec:
    """What every stored row looks like and how inputs are brought to it."""

    size: int
    channels: int = 3
    resize: ResizePolicy = "center-crop"
    background: tuple[int, int, int] = (255, 255, 255)
    max_pixels: int = DEFAULT_MAX_PIXELS
    allow_generated: bool = False  # keep images with picodiff's provenance chunk

    @property
    def mode(self) -> str:
        return "L" if self.channels == 1 else "RGB"


def parse_colour(text: str) -> tuple[int, int, int]:
    """A colour name or #rrggbb as an RGB triple (PIL's ImageColor syntax)."""
    try:
        return ImageColor.getrgb(text)[:3]
    except ValueError:
        raise ValueError(f"unknown colour {text!r} (use a name such as white or #rrggbb)") from None


def load_image(path: str | os.PathLike | bytes, spec: ImageSpec) -> np.ndarray:
    """The file at `path` (or an image file's bytes) as a uint8 [size, size, channels] row;
    raises Rejected."""
    return decode_image(path, spec)[0]


def decode_image(
    path: str | os.PathLike | bytes, spec: ImageSpec
) -> tuple[np.ndarray, dict[str, Any] | None]:
    """`load_image`'s row and the picodiff provenance the file carries (None: none, the usual
    case); a generated image raises Rejected("generated") unless spec.allow_generated."""
    name = "image" if isinstance(path, bytes) else Path(path).name
    try:
        if (len(path) if isinstance(path, bytes) else os.path.getsize(path)) == 0:
            raise Rejected("empty", "zero-byte file")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)  # checked below
            with Image.open(io.BytesIO(path) if isinstance(path, bytes) else path) as image:
                _check_pixels(image, spec.max_pixels)
                _draft(image, spec)
                image.load()
                made = _check_generated(image, spec)
                return convert_image(image, spec), made
    except Rejected:
        raise
    except Image.DecompressionBombError as err:
        raise Rejected("decompression-bomb", str(err)) from None
    except UnidentifiedImageError:
        raise Rejected("not-an-image", f"{name} is no image format PIL reads") from None
    except (OSError, SyntaxError, ValueError, EOFError) as err:
        raise Rejected(_classify(err), str(err)) from None


def convert_image(image: Image.Image, spec: ImageSpec) -> np.ndarray:
    """A decoded PIL image as a uint8 [size, size, channels] row."""
    image = ImageOps.exif_transpose(image)
    image = to_mode(image, spec.mode, spec.background)
    image = resize(image, spec.size, spec.resize, spec.background)
    pixels = np.asarray(image, dtype=np.uint8)
    return pixels[..., None] if pixels.ndim == 2 else pixels


def from_array(pixels: np.ndarray, spec: ImageSpec) -> np.ndarray:
    """A uint8 [H, W] or [H, W, C] array (CIFAR, digits) as a store row."""
    image = Image.fromarray(pixels[..., 0] if pixels.ndim == 3 and pixels.shape[2] == 1 else pixels)
    return convert_image(image, spec)


def to_mode(image: Image.Image, mode: str, background: tuple[int, int, int]) -> Image.Image:
    """RGB or L from any PIL mode: 16-bit scaled down, alpha composited on `background`."""
    if image.mode in _SIXTEEN_BIT_MODES or image.mode == "F":
        image = _to_eight_bit(image)
    if image.mode in _ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        flat = Image.new("RGB", rgba.size, background)
        flat.paste(rgba, mask=rgba.getchannel("A"))
        image = flat
    if image.mode == mode:
        return image
    try:
        return image.convert(mode)
    except ValueError as err:
        raise Rejected("unsupported-mode", f"{image.mode} -> {mode}: {err}") from None


def resize(image: Image.Image, size: int, policy: str, background) -> Image.Image:
    """A size x size image by `policy`: center-crop (keeps aspect), squash, or pad."""
    width, height = image.size
    lanczos = {"resample": Image.Resampling.LANCZOS, "reducing_gap": 3.0}
    if policy == "squash":
        return image.resize((size, size), **lanczos)
    if policy == "center-crop":
        side = min(width, height)
        left, top = (width - side) / 2, (height - side) / 2
        return image.resize((size, size), box=(left, top, left + side, top + side), **lanczos)
    if policy == "pad":
        scale = size / max(width, height)
        inner = (max(1, round(width * scale)), max(1, round(height * scale)))
        canvas = Image.new(image.mode, (size, size), _fill(image.mode, background))
        canvas.paste(
            image.resize(inner, **lanczos), ((size - inner[0]) // 2, (size - inner[1]) // 2)
        )
        return canvas
    raise ValueError(f"unknown resize policy {policy!r}; expected one of {RESIZE_POLICIES}")


def _check_pixels(image: Image.Image, max_pixels: int) -> None:
    pixels = image.width * image.height
    if pixels > max_pixels:
        raise Rejected(
            "decompression-bomb",
            f"{image.width}x{image.height} = {pixels:,} pixels > limit {max_pixels:,}",
        )


def _check_generated(image: Image.Image, spec: ImageSpec) -> dict[str, Any] | None:
    """The image's picodiff provenance; Rejected("generated") when it has one and is refused."""
    made = read_provenance(image)
    if made is None or spec.allow_generated:
        return made
    facts = ", ".join(
        f"{key} {made[key]}" for key in ("model", "seed", "index") if made.get(key) is not None
    )
    raise Rejected(
        "generated",
        f"made by picodiff ({facts or 'provenance chunk'}); --allow-generated keeps it",
    )


def _draft(image: Image.Image, spec: ImageSpec) -> None:
    """Ask the JPEG decoder for the smallest DCT scale that keeps the needed side >= 2x target."""
    if image.format != "JPEG":
        return
    width, height = image.size
    needed_side = max(width, height) if spec.resize == "pad" else min(width, height)
    ratio = needed_side / (spec.size * DRAFT_OVERSAMPLE)
    if ratio >= 2:
        image.draft(spec.mode, (int(width / ratio) + 1, int(height / ratio) + 1))


def _to_eight_bit(image: Image.Image) -> Image.Image:
    """16-bit (I, I;16) -> L by /257; float (F) is taken as [0, 1]."""
    values = np.asarray(image, dtype=np.float64)
    scale = 255.0 if image.mode == "F" else 1 / 257
    return Image.fromarray(np.clip(values * scale + 0.5, 0, 255).astype(np.uint8), "L")


def _fill(mode: str, background: tuple[int, int, int]):
    """The background as a pixel value of `mode` (ITU-R 601 luma for L, as PIL converts)."""
    if mode == "L":
        return round(0.299 * background[0] + 0.587 * background[1] + 0.114 * background[2])
    return background


def _classify(err: Exception) -> str:
    text = str(err).lower()
    if "truncated" in text or "broken" in text or isinstance(err, EOFError):
        return "truncated"
    if isinstance(err, OSError) and err.errno is not None:
        return "unreadable"
    return "corrupt"
