"""An ordered, bounded parallel map over worker processes (image decoding is CPU-bound).

Items go to the workers in chunks; results come back in input order whatever finishes first,
and at most `ahead` chunks per worker are in flight, so memory stays flat on any stream length.
The pool is started before the input is first read, so no thread (a download pool) exists yet
when the workers are forked.
"""

from __future__ import annotations

import multiprocessing
import signal
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from itertools import islice
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def chunked(items: Iterable[T], size: int) -> Iterator[list[T]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, size)):
        yield chunk


def ordered_map(
    func: Callable[[list[T]], list[R]],
    items: Iterable[T],
    workers: int,
    chunk_size: int = 16,
    ahead: int = 4,
) -> Iterator[tuple[T, R]]:
    """(item, result) pairs in input order; func maps a chunk of items to their results.

    func must be picklable (a module-level function or a functools.partial of one) when
    workers > 1; workers <= 1 runs everything in this process.
    """
    if workers <= 1:
        for chunk in chunked(items, chunk_size):
            yield from zip(chunk, func(chunk))
        return
    with multiprocessing.Pool(workers, initializer=_end_on_sigterm) as pool:
        pending: deque = deque()
        for chunk in chunked(items, chunk_size):
            pending.append((chunk, pool.apply_async(func, (chunk,))))
            if len(pending) >= workers * ahead:
                chunk, result = pending.popleft()
                yield from zip(chunk, result.get())
        while pending:
            chunk, result = pending.popleft()
            yield from zip(chunk, result.get())


def _end_on_sigterm() -> None:
    """A worker ends on SIGTERM (Pool.terminate), whatever handler its parent installed."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
