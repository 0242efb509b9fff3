"""The texts of a store's rows and their sentence embeddings, cached with the store.

A row's texts come from fields of its split's index (`SPLIT.index.jsonl`): strings or lists of
strings, e.g. an emoji's `name` and `short_names` or a Pico-Banana `text`; training draws one of
a row's texts at every step. Each distinct text is encoded once, alone, and kept in
`STORE/text-cache/ENCODER_KEY.safetensors`; a later run encodes only texts it lacks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import torch
from tqdm import tqdm

from ..evaluation.cache import load_tensors, save_tensors
from ..text_encoder import TextEmbedding, TextEncoder, stacked
from .dataset import ImageStore
from .store import StoreError

TEXT_FIELDS = ("text", "caption", "name", "summarized_text")  # looked for when none is named
CACHE_FOLDER = "text-cache"


@dataclass(frozen=True)
class RowTexts:
    """The distinct texts of a split and, per row, the indices of its texts."""

    texts: tuple[str, ...]
    rows: tuple[tuple[int, ...], ...]
    fields: tuple[str, ...]

    @property
    def first(self) -> tuple[str, ...]:
        """Each row's first text (from the first field that has one, e.g. an emoji's name)."""
        return tuple(self.texts[ids[0]] for ids in self.rows)


def row_texts(store: ImageStore, fields: tuple[str, ...] = ()) -> RowTexts:
    """Every row's texts from `fields` (default: the first of TEXT_FIELDS its index has)."""
    rows = store.index_rows()
    if not fields:
        hint = "name the text fields with --text-field (e.g. --text-field name,short_names)"
        fields = (store.first_field(rows, TEXT_FIELDS, hint),)
    lookup: dict[str, int] = {}
    per_row = []
    for number, row in enumerate(rows):
        texts = [t.strip() for f in fields for t in _strings(row.get(f))]
        texts = [t for t in dict.fromkeys(texts) if t]
        if not texts:
            raise StoreError(
                f"{store.path} ({store.split}): row {number} has no text in {list(fields)}; a "
                "text-conditional model needs a text for every image"
            )
        per_row.append(tuple(lookup.setdefault(t, len(lookup)) for t in texts))
    return RowTexts(tuple(lookup), tuple(per_row), tuple(fields))


def _strings(value) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [v for v in value if isinstance(v, str)]
    return []


@dataclass(frozen=True)
class TextTable:
    """Embeddings of texts, row k for texts[k]: tokens [N, L, D], mask [N, L], pooled [N, D]."""

    texts: tuple[str, ...]
    tokens: torch.Tensor
    mask: torch.Tensor
    pooled: torch.Tensor

    @property
    def embedding(self) -> TextEmbedding:
        return TextEmbedding(self.tokens, self.mask, self.pooled)


def cached_embeddings(store: ImageStore, texts: tuple[str, ...], encoder: TextEncoder) -> TextTable:
    """The embeddings of `texts`, from the store's cache; those it lacks are encoded (with a
    progress bar) and added to it."""
    path = store.path / CACHE_FOLDER / f"{encoder.key}.safetensors"
    known: dict[str, TextEmbedding] = {}
    if path.is_file():
        tensors, meta = load_tensors(path)
        kept = TextEmbedding(*(tensors[part] for part in TextEmbedding._fields))
        known = {text: kept.rows(k) for k, text in enumerate(json.loads(meta["texts"]))}
    missing = [t for t in dict.fromkeys(texts) if t not in known]
    for text in tqdm(missing, desc="encoding texts", unit="text", disable=not missing):
        known[text] = encoder.encode(text)
    if missing:
        path.parent.mkdir(exist_ok=True)
        meta = {"texts": json.dumps(list(known)), "encoder": encoder.name}
        meta["tokens"] = str(encoder.tokens)
        save_tensors(path, stacked(list(known.values()))._asdict(), meta)
    return TextTable(texts, *stacked([known[t] for t in texts]))
