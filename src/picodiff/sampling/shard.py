"""Splitting n images over processes (torchrun) in whole, aligned micro-batch blocks."""

from __future__ import annotations


def shard_range(n: int, micro_batch: int, rank: int = 0, world_size: int = 1) -> range:
    """The image indices process `rank` of `world_size` draws.

    The blocks [k*M, (k+1)*M) are dealt out contiguously, so every index in [0, n) belongs to
    exactly one process and every shard starts on a block boundary (see engine.py on why).
    """
    if not 0 <= rank < world_size:
        raise ValueError(f"rank {rank} is not in [0, {world_size})")
    blocks = -(-n // micro_batch)
    first, last = rank * blocks // world_size, (rank + 1) * blocks // world_size
    return range(min(first * micro_batch, n), min(last * micro_batch, n))
