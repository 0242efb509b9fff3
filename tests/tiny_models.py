"""Tiny random-weight checkpoints for sampling and evaluation tests (16 px, 0.13 M parameters)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import torch

from picodiff.checkpoint import save_checkpoint
from picodiff.diffusion import NoiseSchedule
from picodiff.models import UNet, UNetConfig


def tiny_checkpoint(
    path: Path, channels: int = 3, seed: int = 0, T: int = 40, image_size: int = 16, **config
) -> Path:
    """A `tiny`-preset checkpoint with random weights, an EMA that differs, cosine schedule."""
    torch.manual_seed(seed)
    model = UNet(
        UNetConfig.preset("tiny", image_channels=channels, image_size=image_size, **config)
    )
    ema = {k: v * 1.5 if v.is_floating_point() else v for k, v in model.state_dict().items()}
    return save_checkpoint(
        path,
        model,
        NoiseSchedule.cosine(T),
        ema_state=ema,
        metadata={"step": 10 * (seed + 1), "best_val_loss": 0.5},
    )


def class_checkpoint(
    path: Path, labels: tuple[str, ...], channels: int = 3, T: int = 20, seed: int = 0
) -> Path:
    """A `tiny` 16 px class-conditional checkpoint with random weights and distinct class
    embeddings (so that each label draws something else)."""
    from picodiff.models.conditioning import ClassConditioning

    torch.manual_seed(seed)
    config = UNetConfig.preset(
        "tiny", image_channels=channels, image_size=16, num_classes=len(labels)
    )
    net = UNet(config)
    with torch.no_grad():
        net.class_embed.weight.normal_(0, 1)
    conditioning = ClassConditioning(tuple(labels), "class")
    return save_checkpoint(path, net, NoiseSchedule.cosine(T), conditioning=conditioning)


def text_checkpoint(path: Path, channels: int = 3, T: int = 20, seed: int = 0) -> Path:
    """A `tiny` 16 px text-conditional checkpoint with random weights on the real sentence
    encoder (so that each prompt draws something else), its empty text set."""
    from picodiff.models.conditioning import TextConditioning
    from picodiff.text_encoder import DEFAULT_TEXT_ENCODER, text_encoder

    encoder = text_encoder(DEFAULT_TEXT_ENCODER, 16)
    torch.manual_seed(seed)
    config = UNetConfig.preset(
        "tiny", image_channels=channels, image_size=16, text_dim=encoder.dim, text_tokens=16
    )
    net = UNet(config)
    with torch.no_grad():
        net.text_embed.weight.normal_(0, 1)
    empty = encoder.encode("")
    net.set_null_text(empty)
    conditioning = TextConditioning(encoder.name, encoder.key, 16, ("name",))
    return save_checkpoint(path, net, NoiseSchedule.cosine(T), conditioning=conditioning)


def cpu_threads(count: int = 1):
    """Pin torch's CPU thread count for a module's tests (restored afterwards).

    On a shared 2-core machine a second thread that cannot get a core makes every small op
    wait for it; one thread keeps these tiny models fast.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(count)
    yield
    torch.set_num_threads(before)


# `torchrun` with two local processes: append "-m", "picodiff", ... or a script and its arguments
TORCHRUN_TWO = [
    sys.executable,
    "-m",
    "torch.distributed.run",
    "--standalone",
    "--nproc_per_node",
    "2",
]


# the sampling presets a measured curve would record (metadata "sampling")
PRESETS_RECORD = {
    "default": "balanced",
    "presets": {
        "fast": {"sampler": "ddim", "steps": 3, "spacing": "linear", "nfe": 3, "fid": 140.0},
        "balanced": {"sampler": "ddim", "steps": 6, "spacing": "trailing", "nfe": 6, "fid": 90.0},
        "best": {"sampler": "dpmpp2m", "steps": 12, "spacing": "logsnr", "nfe": 12, "fid": 80.0},
    },
    "measured": "python bench/nfe.py tiny --ref STORE --record",
}


def with_presets(path: Path, record: dict = PRESETS_RECORD) -> Path:
    """The checkpoint at `path`, given `record` as its sampling presets."""
    return with_metadata(path, sampling=record)


def with_metadata(path: Path, **fields) -> Path:
    """The checkpoint at `path`, with `fields` merged into its metadata."""
    config = json.loads((path / "config.json").read_text())
    config.setdefault("metadata", {}).update(fields)
    (path / "config.json").write_text(json.dumps(config))
    return path
