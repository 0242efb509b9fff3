"""UNetConfig: everything needed to rebuild a U-Net, validated once, saved as JSON."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

from ..choices import check_fields
from ..deprecation import warn_renamed

Layout = Literal["standard", "pb2025"]
RENAMED = {"seed": "pb2025"}  # old preset and layout names, accepted for one release


@dataclass(frozen=True)
class UNetConfig:
    """A time-conditioned U-Net.

    layout "standard": Ho et al. 2020's U-Net: `blocks_per_level` ResBlocks per level, a skip
    after every block, self-attention in the levels where `attention_levels` is True.
    layout "pb2025": the network of the 2025 Pico-Banana student project: one ResBlock +
    attention per level, skips taken from each level's input, explicit `mid_channels` /
    `up_channels` and ConvTranspose up-sampling (docs/design.md).
    """

    image_size: int = 64
    image_channels: int = 3
    layout: Layout = "standard"
    channels: tuple[int, ...] = (64, 128, 256, 256)
    blocks_per_level: int = 2
    attention_levels: tuple[bool, ...] = (False, False, True, True)
    heads: int = 4
    norm_groups: int = 32
    attention_norm_groups: int = 32
    time_embedding_dim: int = 128
    dropout: float = 0.0
    gradient_checkpointing: bool = False
    # super-resolution (a cascade stage): > 0 conditions on an image of this side, upsampled to
    # image_size and concatenated to the input, plus the level of the noise added to it
    low_res_size: int = 0
    # class-conditional (classifier-free guidance, Ho & Salimans 2022): > 0 learns an embedding
    # per class plus a null class (index num_classes) for the unconditional branch
    num_classes: int = 0
    # text-conditional: > 0 takes a sentence encoder's embedding of this width, cut to
    # text_tokens word pieces: the sentence embedding is added to the time embedding and every
    # attention layer also attends to the word-piece states (GLIDE, Nichol et al. 2022); the
    # empty text, kept in the network's buffers, is the unconditional branch
    text_dim: int = 0
    text_tokens: int = 16
    # layout "pb2025" only
    mid_channels: tuple[int, ...] = ()
    up_channels: tuple[int, ...] = ()
    down_sample: tuple[bool, ...] = ()

    def __post_init__(self) -> None:
        if self.layout in RENAMED:
            warn_renamed("UNet layout", self.layout, RENAMED[self.layout], stacklevel=5)
            object.__setattr__(self, "layout", RENAMED[self.layout])
        for name in ("channels", "mid_channels", "up_channels"):
            object.__setattr__(self, name, tuple(int(c) for c in getattr(self, name)))
        for name in ("attention_levels", "down_sample"):
            object.__setattr__(self, name, tuple(bool(d) for d in getattr(self, name)))
        _validate(self)

    # --- construction -------------------------------------------------------------------------
    @classmethod
    def preset(cls, name: str, image_channels: int = 3, **overrides: Any) -> UNetConfig:
        """A named configuration ("pb2025", "default", "small", "tiny"); overrides replace
        fields."""
        if name in RENAMED:
            warn_renamed("UNet preset", name, RENAMED[name])
            name = RENAMED[name]
        if name not in PRESETS:
            raise ValueError(f"unknown UNet preset {name!r}; choose one of {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], "image_channels": image_channels, **overrides})

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> UNetConfig:
        defaults = {f.name: f.default for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - set(defaults))
        if unknown:
            raise ValueError(f"unknown UNetConfig field(s) {unknown}; known: {sorted(defaults)}")
        for name, value in data.items():
            _check_type(name, value, defaults[name])
        return cls(**data)

    def replace(self, **changes: Any) -> UNetConfig:
        return dataclasses.replace(self, **changes)

    # --- derived ------------------------------------------------------------------------------
    @property
    def downsamplings(self) -> int:
        if self.layout == "pb2025":
            return sum(self.down_sample)
        return len(self.channels) - 1

    def activation_bytes(self) -> int:
        """About the memory one image takes in a forward pass (float32): every level's feature
        maps, with the skips kept for the decoder, and each attention level's score matrix."""
        levels = len(self.channels)
        down = list(self.down_sample) if self.layout == "pb2025" else [True] * (levels - 1)
        attends = [True] * levels if self.layout == "pb2025" else list(self.attention_levels)
        size, total = self.image_size, 0
        for level, width in enumerate(self.channels):
            total += 2 * (self.blocks_per_level + 2) * width * size * size  # maps and skips
            if level < len(attends) and attends[level]:
                total += self.heads * (size * size) ** 2  # one head's scores at a time, x heads
            if level < len(down) and down[level]:
                size = max(1, size // 2)
        return 4 * total


def _check_type(name: str, value: Any, default: Any) -> None:
    """A config file's field has the type of its default (a list for a tuple of numbers)."""
    if isinstance(default, tuple):
        good = isinstance(value, (list, tuple)) and all(
            isinstance(v, (int, bool)) and not isinstance(v, float) for v in value
        )
        kind = "a list of integers"
    elif isinstance(default, bool):
        good, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, int):
        good, kind = isinstance(value, int) and not isinstance(value, bool), "an integer"
    elif isinstance(default, float):
        good, kind = isinstance(value, (int, float)) and not isinstance(value, bool), "a number"
    else:
        good, kind = isinstance(value, str), "a string"
    if not good:
        raise ValueError(f"{name} must be {kind}, got {value!r}")


PB2025 = dict(
    layout="pb2025",
    image_size=64,
    channels=(32, 64, 128, 256),
    mid_channels=(256, 256, 128),
    up_channels=(256, 128, 64, 16),
    down_sample=(True, True, False),
    heads=4,
    norm_groups=1,
    attention_norm_groups=8,
    time_embedding_dim=128,
    blocks_per_level=1,
    attention_levels=(),  # pb2025 attends everywhere
)

PRESETS: dict[str, dict[str, Any]] = {
    "pb2025": PB2025,
    "default": dict(
        channels=(64, 128, 256, 256), blocks_per_level=2, attention_levels=(0, 0, 1, 1)
    ),
    "small": dict(channels=(32, 64, 128, 256), blocks_per_level=2, attention_levels=(0, 0, 1, 1)),
    "tiny": dict(
        image_size=16,
        channels=(16, 32),
        blocks_per_level=1,
        attention_levels=(False, True),
        norm_groups=8,
        attention_norm_groups=8,
        time_embedding_dim=32,
        heads=2,
    ),
}


def _validate(c: UNetConfig) -> None:
    check_fields(c)
    if c.image_channels not in (1, 3):
        raise ValueError(f"image_channels must be 1 or 3, got {c.image_channels}")
    if c.low_res_size and not 0 < c.low_res_size < c.image_size:
        raise ValueError(
            f"low_res_size must be between 0 and image_size ({c.image_size}), got {c.low_res_size}"
        )
    if c.num_classes < 0:
        raise ValueError(f"num_classes must be >= 0, got {c.num_classes}")
    if c.text_dim < 0 or c.text_tokens < 1:
        raise ValueError(
            f"text_dim must be >= 0 and text_tokens >= 1, got {c.text_dim}, {c.text_tokens}"
        )
    if c.text_dim and c.num_classes:
        raise ValueError("a network is class- or text-conditional, not both")
    if c.text_dim and c.low_res_size:
        raise ValueError("text conditioning applies to base models, not super-resolution")
    if not 0.0 <= c.dropout < 1.0:
        raise ValueError(f"dropout must be in [0, 1), got {c.dropout}")
    if c.time_embedding_dim % 2 or c.time_embedding_dim < 2:
        raise ValueError(f"time_embedding_dim must be even, got {c.time_embedding_dim}")
    if c.layout == "pb2025":
        _validate_pb2025_lists(c)
    elif not c.channels or c.blocks_per_level < 1:
        raise ValueError("channels must be non-empty and blocks_per_level >= 1")
    elif len(c.attention_levels) != len(c.channels):
        raise ValueError(
            f"attention_levels needs one entry per level ({len(c.channels)}), "
            f"got {len(c.attention_levels)}"
        )
    _validate_divisibility(c)
    _validate_image_size(c)


def _validate_pb2025_lists(c: UNetConfig) -> None:
    levels = len(c.channels) - 1
    if len(c.down_sample) != levels or len(c.up_channels) != len(c.channels):
        raise ValueError(
            f"layout 'pb2025' needs len(down_sample) = len(channels) - 1 = {levels} and "
            f"len(up_channels) = len(channels) = {len(c.channels)}; got {len(c.down_sample)} "
            f"and {len(c.up_channels)}"
        )
    if len(c.mid_channels) < 2 or c.mid_channels[0] != c.channels[-1]:
        raise ValueError("mid_channels must start with channels[-1] and have >= 2 entries")
    width = c.mid_channels[-1]  # entering up level j; ConvTranspose halves it if it up-samples
    for j, up in enumerate(reversed(c.down_sample)):
        if up and width != c.up_channels[j]:
            raise ValueError(f"up level {j} receives {width} channels, not {c.up_channels[j]}")
        skip = c.channels[levels - 1 - j]
        merged = (width // 2 if up else width) + skip
        if merged != c.up_channels[j]:
            raise ValueError(
                f"up_channels[{j}] = {c.up_channels[j]} must equal the incoming channels "
                f"after up-sampling plus the {skip}-channel skip = {merged}"
            )
        width = c.up_channels[j + 1]


def _validate_divisibility(c: UNetConfig) -> None:
    widths = set(c.channels) | set(c.mid_channels) | set(c.up_channels[1:])
    for w in sorted(widths):
        if w % c.heads:
            raise ValueError(f"channel width {w} is not divisible by heads={c.heads}")
        if w % c.attention_norm_groups or w % c.norm_groups:
            raise ValueError(
                f"channel width {w} is not divisible by the GroupNorm group count "
                f"(norm_groups={c.norm_groups}, attention_norm_groups={c.attention_norm_groups})"
            )


def _validate_image_size(c: UNetConfig) -> None:
    factor = 2**c.downsamplings
    if c.image_size < factor:
        raise ValueError(
            f"image_size {c.image_size} is too small for {c.downsamplings} down-samplings; "
            f"use at least {factor}"
        )
    if c.layout == "pb2025" and c.image_size % factor:
        below = c.image_size - c.image_size % factor
        raise ValueError(
            f"image_size {c.image_size} is not divisible by {factor} (the pb2025 network halves "
            f"it {c.downsamplings} times); nearest valid sizes: {below} and {below + factor}"
        )


__all__ = ["PRESETS", "Layout", "UNetConfig"]
