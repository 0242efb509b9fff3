"""Pico-Banana-400K: sft.jsonl, preference.jsonl, multi-turn.jsonl or a manifest .txt of URLs.

--images source takes each row's Open Images photo (`open_image_input_url`; for multi-turn rows
the file with id "original_input_image"): what the pb2025 project trained on. --images edited
takes the edited outputs: `output_image` (or the other multi-turn files) under --base-url.
Photos come from a local Open Images copy (OpenImagesIndex) when one is given, else from HTTP
(Downloader). The same image listed by several rows has one key (its URL), so the pipeline
stores it once.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from ...choices import check_fields
from ...errors import UserError
from ..download import Downloader, DownloadFailed, DownloadOptions, check_url
from ..images import Rejected
from .base import Item, Source
from .openimages import OpenImagesIndex

CDN_BASE_URL = "https://ml-site.cdn-apple.com/datasets/pico-banana-300k/nb/"
SOURCE_FILE_ID = "original_input_image"
# The pb2025 project's 21,896-image subset (experiments A and C) used these two edit types.
PB2025_EDIT_TYPES = (
    "Strong artistic style transfer (e.g., Van Gogh/anime/etc.)",
    "Relocate an object (change its position/spatial relation)",
)


PicoImages = Literal["source", "edited"]
PICO_IMAGES: tuple[str, ...] = get_args(PicoImages)


@dataclass(frozen=True)
class PicoBananaOptions:
    images: PicoImages = "source"
    base_url: str = CDN_BASE_URL
    edit_types: tuple[str, ...] = ()
    openimages_dir: Path | None = None
    openimages_csv: Path | None = None


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


class PicoBananaSource(Source):
    name = "picobanana"

    def __init__(self, source: str, options: PicoBananaOptions, download: DownloadOptions):
        self.source, self.options = source, options
        self.downloader = Downloader(download)
        self.is_manifest = source.lower().endswith(".txt")
        self._validate()
        self.edit_type_counts: Counter[str] = Counter()  # every edit type seen, filtered or not
        self._file: Path | None = None

    def _validate(self) -> None:
        opts = self.options
        check_fields(opts)
        if (opts.openimages_dir is None) != (opts.openimages_csv is None):
            raise UserError("--openimages-dir and --openimages-csv go together: give both")
        if opts.openimages_dir is not None and opts.images == "edited":
            raise UserError("--openimages-dir serves source photos; drop it with --images edited")
        if self.is_manifest and opts.images == "source":
            raise UserError("a manifest .txt lists edited images only: add --images edited")
        try:
            check_url(opts.base_url)
        except DownloadFailed as bad:
            raise UserError(f"--base-url: {bad.detail}") from None

    @property
    def file(self) -> Path:
        """The jsonl/txt on disk (downloaded into the cache once if SOURCE is a URL)."""
        if self._file is None:
            self._file = self._local_copy()
        return self._file

    def _local_copy(self) -> Path:
        if not is_url(self.source):
            path = Path(self.source)
            if not path.is_file():
                raise UserError(f"{path}: no such file")
            return path
        try:
            return self.downloader.fetch(self.source)
        except DownloadFailed as failure:
            raise UserError(f"cannot download {self.source}: {failure}") from None

    def candidates(self) -> Iterator[Item]:
        self.edit_type_counts.clear()
        name = Path(self.source).name
        with open(self.file, encoding="utf-8") as f:
            for number, line in enumerate(f, start=1):
                if line.strip():
                    yield from self._row_items(line, {"file": name, "line": number})

    def _row_items(self, line: str, where: dict) -> Iterator[Item]:
        if self.is_manifest:
            yield _url_item(line.strip(), where)
            return
        try:
            row = json.loads(line)
        except json.JSONDecodeError as err:
            yield _rejected(where, "bad-row", f"invalid JSON ({err})")
            return
        if not isinstance(row, dict):
            yield _rejected(where, "bad-row", f"a JSON {type(row).__name__}, not an object")
            return
        edit_type = row.get("edit_type")
        if not isinstance(edit_type, (str, type(None))):
            yield _rejected(where, "bad-row", f"edit_type is not a string: {edit_type!r}"[:200])
            return
        self.edit_type_counts[edit_type] += 1
        if self.options.edit_types and edit_type not in self.options.edit_types:
            return
        urls = self._image_urls(row)
        if not urls:
            yield _rejected(where, "no-url", f"row has no {self.options.images} image field")
        for url in urls:
            yield _url_item(url, {**where, "edit_type": edit_type})

    def _image_urls(self, row: dict) -> list[str]:
        """The URLs of the images this row contributes under --images."""
        want_source = self.options.images == "source"
        if isinstance(row.get("files"), list):  # multi-turn: [{"id": ..., "url": ...}, ...]
            files = [f for f in row["files"] if isinstance(f, dict) and f.get("url")]
            chosen = [f["url"] for f in files if (f.get("id") == SOURCE_FILE_ID) == want_source]
        else:
            field = "open_image_input_url" if want_source else "output_image"
            chosen = [row[field]] if row.get(field) else []
        return chosen if want_source else [self._edited_url(path) for path in chosen]

    def _edited_url(self, path: object) -> object:
        """An output path under --base-url (anything but a string is left to check_url)."""
        if not isinstance(path, str) or is_url(path) or ":" in path.split("/", 1)[0]:
            return path
        return self.options.base_url.rstrip("/") + "/" + path.lstrip("/")

    def resolve(self, items: Iterator[Item]) -> Iterator[Item]:
        if self.options.openimages_dir is not None:
            index = OpenImagesIndex(
                self.options.openimages_dir,
                self.options.openimages_csv,
                (item.url for item in self.candidates() if item.url),
            )
            yield from (_with_local_path(item, index) for item in items)
            return
        for item, outcome in self.downloader.fetch_all(items, lambda item: item.url):
            if isinstance(outcome, DownloadFailed):
                item.rejected = Rejected(outcome.reason, outcome.detail)
            elif outcome is not None:
                item.path = str(outcome)
            yield item

    def describe(self) -> dict:
        facts = {"images": self.options.images, "edit_types": list(self.options.edit_types)}
        if self.options.openimages_dir is None:
            facts["downloads"] = dict(self.downloader.counts)
        return facts

    def warnings(self) -> list[str]:
        unmatched = [t for t in self.options.edit_types if not self.edit_type_counts[t]]
        seen = "; ".join(sorted(str(t) for t in self.edit_type_counts))
        return [f"--edit-type {t!r} matched no row (edit types seen: {seen})" for t in unmatched]


def _with_local_path(item: Item, index: OpenImagesIndex) -> Item:
    if item.rejected is None:
        try:
            item.path = str(index.path_for(item.url))
        except Rejected as rejected:
            item.rejected = rejected
    return item


def _url_item(url: object, where: dict) -> Item:
    """The item of one image URL, or its skip reason when it is not one we download."""
    try:
        check_url(url)
    except DownloadFailed as bad:
        return _rejected(where, bad.reason, bad.detail)
    return Item(key=url, provenance={"source": url, **where}, url=url)  # type: ignore[arg-type]


def _rejected(where: dict, reason: str, detail: str) -> Item:
    key = f"{where['file']}:{where['line']}"
    return Item(key=key, provenance={"source": key, **where}, rejected=Rejected(reason, detail))
