"""The texts of a store's rows and their sentence embeddings, cached with the store.

A row's texts come from fields of its split's index (`SPLIT.index.jsonl`): strings or lists of
strings, e.g. an emoji's `name` and `short_names` or a Pico-Banana `text`; training draws one of
a row's texts at every step. Each distinct text is encoded once, alone, and kept in
`STORE/text-cache/ENCODER_KEY.safetensors`; a later run encodes only texts it lacks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from tqdm import tqdm

from ..evaluation.cache import load_tensors, save_tensors
from ..text_encoder import TextEmbedding, TextEncoder
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


def row_texts(store: ImageStore, fields: tuple[str, ...] = ()) -> RowTexts:
    """Every row's texts from `fields` (default: the first of TEXT_FIELDS its index has)."""
    rows = store.index_rows()
    if not fields:
        found = [name for name in TEXT_FIELDS if rows and name in rows[0]]
        if not found:
            raise StoreError(
                f"{store.path}: its index has none of the text fields {list(TEXT_FIELDS)}; "
                "name them with --text-field (e.g. --text-field name,short_names)"
            )
        fields = (found[0],)
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

    def rows(self, index: torch.Tensor) -> dict[str, torch.Tensor]:
        """The network inputs of texts `index` [B]."""
        return {
            "text_tokens": self.tokens[index],
            "text_mask": self.mask[index],
            "text_embedding": self.pooled[index],
        }


def cached_embeddings(store: ImageStore, texts: tuple[str, ...], encoder: TextEncoder) -> TextTable:
    """The embeddings of `texts`, from the store's cache; those it lacks are encoded (with a
    progress bar) and added to it."""
    path = store.path / CACHE_FOLDER / f"{encoder.key}.safetensors"
    known: dict[str, TextEmbedding] = {}
    if path.is_file():
        tensors, meta = load_tensors(path)
        for k, text in enumerate(json.loads(meta["texts"])):
            known[text] = TextEmbedding(
                tensors["tokens"][k], tensors["mask"][k], tensors["pooled"][k]
            )
    missing = [t for t in dict.fromkeys(texts) if t not in known]
    for text in tqdm(missing, desc="encoding texts", unit="text", disable=not missing):
        known[text] = encoder.encode(text)
    if missing:
        _save(path, known, encoder)
    table = [known[t] for t in texts]
    return TextTable(
        texts,
        torch.stack([e.tokens for e in table]),
        torch.stack([e.mask for e in table]),
        torch.stack([e.pooled for e in table]),
    )


def _save(path: Path, known: dict[str, TextEmbedding], encoder: TextEncoder) -> None:
    texts = list(known)
    tensors = {
        "tokens": torch.stack([known[t].tokens for t in texts]),
        "mask": torch.stack([known[t].mask for t in texts]),
        "pooled": torch.stack([known[t].pooled for t in texts]),
    }
    path.parent.mkdir(exist_ok=True)
    meta = {"texts": json.dumps(texts), "encoder": encoder.name, "tokens": str(encoder.tokens)}
    save_tensors(path, tensors, meta)
