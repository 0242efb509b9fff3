"""Batch-invariant network calls: an image's output must not depend on the batch it is in.

CPU kernels choose their algorithm from the batch size (a Linear on a [1, D] time embedding is a
matrix-vector product, on [B, D] a blocked GEMM; oneDNN convolutions and channels-last GroupNorm
split their work by batch), and their last bits differ. Calling the network on blocks of exactly
`micro_batch` rows, the last one zero-padded, removes that: a row's result then depends only on
the block's shape, never on the other rows (tests/test_sampling.py checks it), so an image is
the same alone, in any batch, under any --batch-size or number of processes.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn


def default_micro_batch(device: torch.device | str) -> int:
    """4 images per network call on a CPU (its speed barely depends on it), 64 on a GPU."""
    return 64 if torch.device(device).type == "cuda" else 4


def micro_batched(net: nn.Module, micro_batch: int) -> Callable[..., torch.Tensor]:
    """model_fn(x, t, **per_row) calling `net` on chunks of exactly `micro_batch` rows.

    Every tensor argument is split by rows; padding repeats the chunk's last row of t (and of
    each keyword tensor) beside zero images, then is cut off again.
    """

    def model_fn(x: torch.Tensor, t: torch.Tensor, **per_row: torch.Tensor) -> torch.Tensor:
        outputs = []
        for start in range(0, len(x), micro_batch):
            rows = slice(start, start + micro_batch)
            count = len(x[rows])
            chunk = {k: _pad(v[rows], micro_batch, repeat=True) for k, v in per_row.items()}
            out = net(_pad(x[rows], micro_batch), _pad(t[rows], micro_batch, True), **chunk)
            outputs.append(out[:count])
        return torch.cat(outputs)

    return model_fn


def _pad(rows: torch.Tensor, size: int, repeat: bool = False) -> torch.Tensor:
    missing = size - len(rows)
    if not missing:
        return rows
    shape = (missing, *rows.shape[1:])
    filler = rows[-1:].expand(shape) if repeat else rows.new_zeros(shape)
    return torch.cat([rows, filler])
