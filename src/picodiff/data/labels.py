"""Class labels of a store's rows, from a field of its split's index (`SPLIT.index.jsonl`):
the names a class-conditional model learns, and each row's class index."""

from __future__ import annotations

import numpy as np

from .dataset import ImageStore
from .store import StoreError

LABEL_FIELDS = ("class", "category", "label")  # looked for in this order when none is named


def class_labels(
    store: ImageStore, field: str | None = None
) -> tuple[tuple[str, ...], str, np.ndarray]:
    """(label names, the field read, the class index of every row) of one split. The names
    are the field's distinct values, sorted (numbers numerically), as text."""
    rows = store.index_rows()
    if field is None:
        field = store.first_field(rows, LABEL_FIELDS, "name the label field with --label-field")
    missing = [i for i, row in enumerate(rows) if row.get(field) is None]
    if missing:
        raise StoreError(
            f"{store.path} ({store.split}): {len(missing):,} rows have no {field!r} (the "
            f"first: row {missing[0]}); a class-conditional model needs a label for every image"
        )
    values = [row[field] for row in rows]
    numeric = all(isinstance(v, int) and not isinstance(v, bool) for v in values)
    distinct = sorted(set(values)) if numeric else sorted({str(v) for v in values})
    names = tuple(str(v) for v in distinct)
    lookup = {name: i for i, name in enumerate(names)}
    return names, field, np.array([lookup[str(v)] for v in values], dtype=np.int64)
