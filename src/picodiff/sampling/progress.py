"""A progress bar over the denoising steps of every batch, usable as a sampler callback."""

from __future__ import annotations

from collections.abc import Callable

from tqdm import tqdm


class SamplingBar:
    """Counts network calls (steps x batches) and images done; silent when disabled."""

    def __init__(self, images: int, batches: int, steps: int, enabled: bool = True):
        self.images, self.done = images, 0
        self.bar = tqdm(total=batches * steps, desc="sampling", unit="step", disable=not enabled)

    def __call__(self, i, total, x_t, x0) -> None:
        self.bar.update(1)

    def batch_done(self, count: int) -> None:
        self.done += count
        self.bar.set_postfix_str(f"{self.done}/{self.images} images")

    def close(self) -> None:
        self.bar.close()


def chain(*callbacks: Callable | None) -> Callable:
    """One sampler callback calling each of `callbacks` (None entries are skipped)."""
    active = [c for c in callbacks if c is not None]

    def callback(i, total, x_t, x0) -> None:
        for c in active:
            c(i, total, x_t, x0)

    return callback
