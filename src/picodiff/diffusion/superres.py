"""Super-resolution conditioning for cascaded diffusion (Ho et al. 2021, "Cascaded Diffusion
Models for High Fidelity Image Generation").

A super-resolution stage learns p(x | z) where z is the image at a lower resolution. During
training z is made from the data by downsampling, then corrupted by *conditioning augmentation*:
z_s = sqrt(alpha_bar_s) z + sqrt(1 - alpha_bar_s) eps with a random level s, which the network
receives as an input (sec. 3.2, "Gaussian conditioning augmentation"). At sampling time s is
fixed, so the stage tolerates the artefacts of the stage before it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .forward import q_sample
from .noise import Generators, randn
from .schedules import NoiseSchedule


def degrade(images: torch.Tensor, low_res: int) -> torch.Tensor:
    """The low-resolution version of `images` [B, C, H, W]: an antialiased (area) downsample."""
    return F.interpolate(images, size=(low_res, low_res), mode="area")


def augment(
    schedule: NoiseSchedule, low: torch.Tensor, level: torch.Tensor, noise: torch.Tensor
) -> torch.Tensor:
    """z_s = q(z_s | z): the forward process at timestep `level` [B] (0 = clean)."""
    clean = (level == 0).reshape(-1, *([1] * (low.ndim - 1)))
    return torch.where(clean, low, q_sample(schedule, low, level, noise))


class Conditioning:
    """Draws training conditions: levels s ~ U{0..max_level} and the augmentation noise."""

    def __init__(self, schedule: NoiseSchedule, low_res: int, max_level: int):
        self.schedule, self.low_res, self.max_level = schedule, low_res, max_level

    def draw(self, generator: torch.Generator, batch: int, channels: int):
        """(levels [B], noise [B, C, low_res, low_res]) for one global batch."""
        levels = torch.randint(0, self.max_level + 1, (batch,), generator=generator)
        noise = torch.randn((batch, channels, self.low_res, self.low_res), generator=generator)
        return levels, noise

    def inputs(self, x0: torch.Tensor, levels: torch.Tensor, noise: torch.Tensor) -> dict:
        """The network's extra inputs for clean images x0: {low_res, aug_level}."""
        return network_inputs(self.schedule, degrade(x0, self.low_res), levels, noise)


def network_inputs(
    schedule: NoiseSchedule, low: torch.Tensor, levels: torch.Tensor, noise: torch.Tensor
) -> dict[str, torch.Tensor]:
    """A super-resolution network's extra inputs: the augmented low-resolution image z_s and
    the level s of each row (per-row keyword arguments of UNet.forward)."""
    return {"low_res": augment(schedule, low, levels, noise), "aug_level": levels}


def sampling_inputs(
    schedule: NoiseSchedule, low: torch.Tensor, level: int, generators: Generators, device
) -> dict[str, torch.Tensor]:
    """network_inputs at sampling time: one fixed level for every row, the augmentation noise
    drawn from each row's generator (before the sampler draws from it)."""
    levels = torch.full((len(low),), level, dtype=torch.long, device=device)
    noise = randn(low.shape, generators, device=device)
    return network_inputs(schedule, low.to(device), levels, noise)
