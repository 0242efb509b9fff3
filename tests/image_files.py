"""Real image files for the prepare tests: skimage photos and the hard cases built from them."""

from __future__ import annotations

import io
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image
from skimage import data as skimage_data

RED, GREEN, BLUE = (255, 0, 0), (0, 160, 0), (0, 0, 255)


def photo(name: str) -> np.ndarray:
    """A real photo shipped with scikit-image (astronaut, coffee, chelsea, rocket, camera...)."""
    return getattr(skimage_data, name)()


def jpeg_bytes(pixels: np.ndarray, **save_args) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="JPEG", quality=92, **save_args)
    return buffer.getvalue()


def halves(width: int, height: int, first, second, vertical: bool = False) -> np.ndarray:
    """An RGB image: `first` colour in the top (or left) half, `second` in the other."""
    image = np.empty((height, width, 3), np.uint8)
    if vertical:
        image[:, : width // 2], image[:, width // 2 :] = first, second
    else:
        image[: height // 2], image[height // 2 :] = first, second
    return image


def exif_rotated_jpeg(path: Path) -> None:
    """Stored red-above-blue with EXIF orientation 6 (display = rotate 90 deg clockwise), so a
    viewer shows blue on the left and red on the right."""
    exif = Image.Exif()
    exif[0x0112] = 6
    path.write_bytes(jpeg_bytes(halves(60, 40, RED, BLUE), exif=exif))


def half_transparent(mode: str) -> Image.Image:
    """Left half fully transparent (red underneath, to catch alpha being dropped), right half
    opaque green; in `mode` RGBA or LA."""
    rgba = np.zeros((40, 40, 4), np.uint8)
    rgba[..., :3] = halves(40, 40, RED, GREEN, vertical=True)
    rgba[:, 20:, 3] = 255
    return Image.fromarray(rgba, "RGBA").convert(mode)


def palette_png_with_transparency(path: Path) -> None:
    image = Image.fromarray(halves(40, 40, RED, GREEN, vertical=True)).quantize(colors=4)
    red_index = image.getpixel((0, 0))
    image.save(path, transparency=red_index)


def sixteen_bit_gradient(path: Path) -> None:
    """A 16-bit grayscale PNG rising from 0 (left) to 65535 (right)."""
    ramp = np.linspace(0, 65535, 64).round().astype(np.uint16)
    Image.fromarray(np.tile(ramp, (64, 1))).save(path)  # mode I;16


def decompression_bomb(path: Path, side: int = 20_000) -> None:
    """A real 1-bit PNG of side x side pixels (400 M for 20,000) that compresses to ~50 kB."""
    raw = (b"\0" * (1 + side // 8)) * side

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def write_hard_cases(root: Path) -> dict[str, str | None]:
    """Fill `root`; returns {relative path: expected skip reason, or None if it must be kept}."""
    (root / "photos" / "nested").mkdir(parents=True)
    (root / "odd").mkdir()
    (root / "broken").mkdir()
    files: dict[str, str | None] = {}

    def keep(name: str, write) -> None:
        write(root / name)
        files[name] = None

    keep("photos/astronaut.jpg", lambda p: p.write_bytes(jpeg_bytes(photo("astronaut"))))
    keep("photos/coffee.webp", lambda p: Image.fromarray(photo("coffee")).save(p))
    keep("photos/nested/chelsea.bmp", lambda p: Image.fromarray(photo("chelsea")).save(p))
    keep("photos/nested/rocket.tiff", lambda p: Image.fromarray(photo("rocket")).save(p))
    keep("photos/camera.png", lambda p: Image.fromarray(photo("camera")).save(p))  # grayscale
    keep("odd/cmyk.jpg", lambda p: Image.fromarray(photo("coffee")).convert("CMYK").save(p))
    keep("odd/gray16.png", sixteen_bit_gradient)
    keep("odd/rgba.png", lambda p: half_transparent("RGBA").save(p))
    keep("odd/la.png", lambda p: half_transparent("LA").save(p))
    keep("odd/palette.gif", lambda p: Image.fromarray(photo("astronaut")).quantize(64).save(p))
    keep("odd/palette_alpha.png", palette_png_with_transparency)
    keep("odd/exif_rotated.jpg", exif_rotated_jpeg)
    whole = jpeg_bytes(photo("chelsea"))
    (root / "broken/truncated.jpg").write_bytes(whole[: len(whole) // 2])
    (root / "broken/empty.jpg").write_bytes(b"")
    (root / "broken/text.jpg").write_text("this is not a JPEG\n")
    decompression_bomb(root / "broken/bomb.png")
    (root / "broken/README.txt").write_text("ignored: not an image suffix\n")
    files.update(
        {
            "broken/truncated.jpg": "truncated",
            "broken/empty.jpg": "empty",
            "broken/text.jpg": "not-an-image",
            "broken/bomb.png": "decompression-bomb",
        }
    )
    return files
