"""Local Open Images files for Pico-Banana source URLs: OriginalURL -> ImageID -> <ImageID>.jpg.

The CSV is Open Images' train-images-boxable-with-rotation.csv (columns ImageID, OriginalURL,
...; about 1.7 M rows); only the URLs a run asks for are kept in memory. Images are looked up as
DIR/<ImageID>.jpg or DIR/<sub>/<ImageID>.jpg (train_0/, train_1/ as the tarballs extract).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from pathlib import Path

from ...errors import UserError
from ..images import Rejected


class OpenImagesIndex:
    def __init__(self, image_dir: Path, csv_path: Path, wanted_urls: Iterable[str]):
        if not image_dir.is_dir():
            raise UserError(f"--openimages-dir {image_dir}: not a directory")
        self.dirs = [image_dir, *sorted(p for p in image_dir.iterdir() if p.is_dir())]
        self.url_to_id = read_url_map(csv_path, set(wanted_urls))

    def path_for(self, url: str) -> Path:
        """The local file of `url`; Rejected if the CSV or the directory lacks it."""
        image_id = self.url_to_id.get(url)
        if image_id is None:
            raise Rejected("not-in-openimages-csv", url)
        for directory in self.dirs:
            path = directory / f"{image_id}.jpg"
            if path.is_file():
                return path
        raise Rejected("missing-local-file", f"{image_id}.jpg not under {self.dirs[0]}")


def read_url_map(csv_path: Path, wanted: set[str]) -> dict[str, str]:
    """OriginalURL -> ImageID for the `wanted` URLs only."""
    try:
        with open(csv_path, newline="", encoding="utf-8") as f:
            reader = csv.reader(f)
            header = next(reader, [])
            if "ImageID" not in header or "OriginalURL" not in header:
                raise UserError(
                    f"--openimages-csv {csv_path}: needs columns ImageID and OriginalURL "
                    f"(found {header[:6]})"
                )
            id_col, url_col = header.index("ImageID"), header.index("OriginalURL")
            width = max(id_col, url_col) + 1
            return {
                row[url_col]: row[id_col]
                for row in reader
                if len(row) >= width and row[url_col] in wanted
            }
    except FileNotFoundError:
        raise UserError(f"--openimages-csv {csv_path}: no such file") from None
