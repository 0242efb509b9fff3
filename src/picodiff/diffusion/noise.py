"""Reproducible Gaussian noise from one generator or one generator per batch element."""

from __future__ import annotations

from collections.abc import Sequence

import torch

Generators = torch.Generator | Sequence[torch.Generator] | None


def randn(
    shape: Sequence[int], generator: Generators, device=None, dtype=torch.float32
) -> torch.Tensor:
    """N(0, I) noise of `shape`.

    With a list of generators, row i comes from generator i alone, so an image's noise does not
    depend on which batch it was drawn in. Noise is drawn on the generator's device, then moved.
    """
    if generator is None or isinstance(generator, torch.Generator):
        gen_device = generator.device if generator is not None else device
        return torch.randn(shape, generator=generator, device=gen_device, dtype=dtype).to(device)
    if len(generator) != shape[0]:
        raise ValueError(f"got {len(generator)} generators for a batch of {shape[0]}")
    rows = [torch.randn(shape[1:], generator=g, device=g.device, dtype=dtype) for g in generator]
    return torch.stack(rows).to(device)
