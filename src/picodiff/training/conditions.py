"""Each training row's condition, drawn at every step: its class, or one of its texts; rows
that classifier-free guidance drops (a share cond_drop) get the null class or the empty text."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..data.texts import RowTexts, TextTable
from ..text_encoder import TextEmbedding

GRID_CONDITIONS = 8  # distinct prompts in a text model's sample grid


@dataclass(frozen=True)
class ClassRows:
    """The class index of every training row."""

    labels: torch.Tensor  # [N]
    classes: int

    def draw(self, rows: torch.Tensor, dropped: torch.Tensor, gen) -> dict[str, torch.Tensor]:
        return {"class_labels": torch.where(dropped, self.classes, self.labels[rows])}

    def grid(self, n: int) -> dict[str, list]:
        """The sample grid's conditions: each class in turn."""
        return {"labels": [i % self.classes for i in range(n)]}


@dataclass(frozen=True)
class TextRows:
    """Every training row's texts, as rows of `table` (whose last row is the empty text)."""

    texts: RowTexts
    table: TextTable
    choices: torch.Tensor = field(init=False)  # [N, most texts of a row], padded with -1
    counts: torch.Tensor = field(init=False)  # [N]

    def __post_init__(self) -> None:
        if self.table.texts[-1] != "" or self.table.texts[:-1] != self.texts.texts:
            raise ValueError("the table must hold the rows' texts, then the empty text")
        widest = max(len(r) for r in self.texts.rows)
        choices = torch.full((len(self.texts.rows), widest), -1, dtype=torch.long)
        for i, texts in enumerate(self.texts.rows):
            choices[i, : len(texts)] = torch.tensor(texts)
        object.__setattr__(self, "choices", choices)
        object.__setattr__(self, "counts", (choices >= 0).sum(1))

    def draw(self, rows: torch.Tensor, dropped: torch.Tensor, gen) -> dict[str, torch.Tensor]:
        """One of each row's texts, uniformly (the empty text where dropped)."""
        counts = self.counts[rows]
        pick = (torch.rand(len(rows), generator=gen) * counts).long().clamp(max=counts - 1)
        index = torch.where(dropped, len(self.table.texts) - 1, self.choices[rows, pick])
        return self.table.embedding.rows(index).inputs()

    def null(self) -> TextEmbedding:
        """The empty text's embedding."""
        return self.table.embedding.rows(len(self.table.texts) - 1)

    def grid(self, n: int) -> dict[str, list]:
        """The sample grid's conditions: a few texts spread over the store, in turn."""
        texts = self.texts.texts
        count = min(GRID_CONDITIONS, len(texts))
        chosen = [texts[k * len(texts) // count] for k in range(count)]
        return {"prompts": [chosen[i % count] for i in range(n)]}
