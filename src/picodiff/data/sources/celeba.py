"""CelebA: a directory holding img_align_celeba/ (the Kaggle copy's nested
img_align_celeba/img_align_celeba/ too) and, when present, list_eval_partition.txt
("000001.jpg 0" lines; Kaggle's list_eval_partition.csv also works). Partition 0 is train,
1 and 2 (official val and test) are val; without the file the val split comes from
--val-fraction.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from ...errors import UserError
from ..images import IMAGE_SUFFIXES
from .base import Item, Source

PARTITION_FILES = ("list_eval_partition.txt", "list_eval_partition.csv")
IMAGE_DIR = "img_align_celeba"


def find_image_dir(root: Path) -> Path:
    for candidate in (root / IMAGE_DIR / IMAGE_DIR, root / IMAGE_DIR):
        if candidate.is_dir():
            return candidate
    if root.name == IMAGE_DIR and root.is_dir():
        return root
    raise UserError(f"{root}: no {IMAGE_DIR}/ directory")


def read_partitions(path: Path) -> dict[str, str]:
    """File name -> "train" or "val" from list_eval_partition (.txt or .csv)."""
    splits = {}
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        fields = line.replace(",", " ").split()
        if not fields or fields[0] == "image_id":
            continue
        if len(fields) != 2 or fields[1] not in ("0", "1", "2"):
            raise UserError(f"{path}:{number}: expected 'NAME PARTITION', got {line!r}")
        splits[fields[0]] = "train" if fields[1] == "0" else "val"
    return splits


class CelebASource(Source):
    name = "celeba"

    def __init__(self, root: str | Path, official_split: bool = True):
        root = Path(root)
        self.image_dir = find_image_dir(root)
        found = [root / n for n in PARTITION_FILES if (root / n).is_file()]
        self.partition_file = found[0] if found and official_split else None
        self.splits = read_partitions(self.partition_file) if self.partition_file else {}

    def candidates(self) -> Iterator[Item]:
        for path in sorted(self.image_dir.iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                yield Item(
                    key=path.name,
                    provenance={"source": path.name},
                    path=str(path),
                    split=self.splits.get(path.name),
                )

    def describe(self) -> dict:
        return {"partition_file": self.partition_file.name if self.partition_file else None}
