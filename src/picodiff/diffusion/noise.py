"""Reproducible Gaussian noise from one generator or one generator per batch element."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
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


def image_generators(seed: int, indices: Sequence[int], device="cpu") -> list[torch.Generator]:
    """One generator per image, seeded from (seed, image index) alone.

    Sampling with these makes image i of a seed the same whatever batch it is drawn in, so
    `--n 8` gives the first 8 images of `--n 64`, and a server can batch requests freely.
    """
    return [torch.Generator(device).manual_seed(derive_seed(seed, i)) for i in indices]


def derive_seed(*parts: int) -> int:
    """A 63-bit seed mixed from integers with NumPy's SeedSequence."""
    state = np.random.SeedSequence([int(p) for p in parts]).generate_state(1, dtype=np.uint64)
    return int(state[0]) & (2**63 - 1)
