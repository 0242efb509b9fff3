"""The time-conditioned U-Net, built from a UNetConfig in loops with an explicit skip stack."""

from __future__ import annotations

import torch
from torch import nn

from ..text_encoder import TextEmbedding
from .blocks import (
    Attention,
    Checkpointed,
    Context,
    MidBlock,
    NoAttention,
    ResBlock,
    TimeEmbedding,
    Upsample,
)
from .config import UNetConfig


class UNet(nn.Module):
    """eps_theta(x_t, t): maps noisy images [B, C, H, W] and timesteps [B] to [B, C, H, W]."""

    def __init__(self, config: UNetConfig):
        super().__init__()
        self.config = config
        dim = config.time_embedding_dim
        self.time_embed = TimeEmbedding(dim)
        inputs = config.image_channels * (2 if config.low_res_size else 1)
        self.conv_in = nn.Conv2d(inputs, config.channels[0], 3, padding=1)
        # Cascaded diffusion (Ho et al. 2021): the noise level of the conditioning is an input
        self.aug_embed = TimeEmbedding(dim) if config.low_res_size else None
        # one embedding per class and the null class (the last), added to the time embedding
        classes = config.num_classes
        self.class_embed = nn.Embedding(classes + 1, dim) if classes else None
        # the sentence embedding of a text-conditional one, added to the time embedding, and
        # the empty text (the unconditional branch), set from the encoder before training
        self.text_embed = nn.Linear(config.text_dim, dim) if config.text_dim else None
        if config.text_dim:
            width, length = config.text_dim, config.text_tokens
            self.register_buffer("null_text_tokens", torch.zeros(length, width))
            self.register_buffer("null_text_mask", torch.zeros(length))  # 1: a word piece
            self.register_buffer("null_text_embedding", torch.zeros(width))
        build = _build_pb2025 if config.layout == "pb2025" else _build_standard
        self.downs, self.ups, out_width = build(config)
        mids = config.mid_channels or (config.channels[-1], config.channels[-1])
        self.mid = nn.ModuleList(MidBlock(a, b, dim, config) for a, b in zip(mids, mids[1:]))
        pb2025 = config.layout == "pb2025"
        out_groups = config.attention_norm_groups if pb2025 else config.norm_groups
        self.out_norm = nn.GroupNorm(out_groups, out_width)
        self.out_act = nn.Identity() if pb2025 else nn.SiLU()  # pb2025 has no SiLU here
        self.out_conv = nn.Conv2d(out_width, config.image_channels, 3, padding=1)
        self.set_gradient_checkpointing(config.gradient_checkpointing)

    def forward(
        self,
        x: torch.Tensor,
        t: torch.Tensor,
        low_res: torch.Tensor | None = None,
        aug_level: torch.Tensor | None = None,
        class_labels: torch.Tensor | None = None,
        text_embedding: torch.Tensor | None = None,
        text_tokens: torch.Tensor | None = None,
        text_mask: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """x_t [B, C, H, W], t [B] -> the prediction [B, C, H, W].

        A super-resolution network also takes the low-resolution image (any size; upsampled
        bicubically to H x W here) and `aug_level` [B], the timestep of the noise that
        conditioning augmentation added to it. A class-conditional one takes `class_labels`
        [B] in 0..num_classes, num_classes being the null class (also used when None). A
        text-conditional one takes a text's `text_embedding` [B, D], `text_tokens` [B, L, D]
        and `text_mask` [B, L] (`picodiff.text_encoder`; all None: the empty text).
        """
        self._check_input(x)
        emb = self.time_embed(t)
        if self.class_embed is not None:
            emb = emb + self.class_embed(self._labels(class_labels, len(x), x.device))
        elif class_labels is not None:
            raise ValueError("class_labels given to a network that is not class-conditional")
        context: Context | None = None
        if self.text_embed is not None:
            pooled, tokens, mask = self._text(len(x), text_embedding, text_tokens, text_mask)
            emb, context = emb + self.text_embed(pooled), (tokens, mask)
        elif text_embedding is not None or text_tokens is not None:
            raise ValueError("a text was given to a network that is not text-conditional")
        if self.aug_embed is not None:
            x = torch.cat([x, self._upsampled(low_res, x)], dim=1)
            emb = emb + self.aug_embed(aug_level)
        act_emb = nn.functional.silu(emb)
        # channels-last (NHWC) convolutions run ~10% faster on CPU (oneDNN) and on tensor cores
        h = self.conv_in(x.contiguous(memory_format=torch.channels_last))
        skips: list[torch.Tensor] = []
        for level in self.downs:
            h = level(h, act_emb, skips, context)
        for block in self.mid:
            h = block(h, act_emb, context)
        for level in self.ups:
            h = level(h, act_emb, skips, context)
        return self.out_conv(self.out_act(self.out_norm(h))).contiguous()

    def set_gradient_checkpointing(self, enabled: bool = True) -> None:
        """Recompute each ResBlock and attention in backward instead of storing activations."""
        for module in self.modules():
            if isinstance(module, Checkpointed):
                module.gradient_checkpointing = enabled

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())

    @staticmethod
    def _upsampled(low_res: torch.Tensor | None, like: torch.Tensor) -> torch.Tensor:
        if low_res is None or low_res.shape[:2] != like.shape[:2]:
            raise ValueError(
                "a super-resolution network needs low_res [B, C, h, w] matching x "
                f"{tuple(like.shape)} in B and C, got "
                f"{None if low_res is None else tuple(low_res.shape)}"
            )
        if low_res.shape[-2:] == like.shape[-2:]:
            return low_res
        return nn.functional.interpolate(low_res, size=like.shape[-2:], mode="bicubic")

    def _labels(self, labels: torch.Tensor | None, count: int, device) -> torch.Tensor:
        null = self.config.num_classes
        if labels is None:
            return torch.full((count,), null, dtype=torch.long, device=device)
        if labels.shape != (count,) or not bool(((labels >= 0) & (labels <= null)).all()):
            raise ValueError(f"class_labels must be [{count}] integers in 0..{null} (null)")
        return labels.long()

    def set_null_text(self, empty: TextEmbedding) -> None:
        """Keep the encoder's embedding of the empty text: the unconditional branch."""
        self.null_text_tokens.copy_(empty.tokens)
        self.null_text_mask.copy_(empty.mask)
        self.null_text_embedding.copy_(empty.pooled)

    def null_text(self) -> TextEmbedding:
        """The empty text's embedding (its mask is kept as numbers: EMA averages buffers)."""
        return TextEmbedding(
            self.null_text_tokens, self.null_text_mask > 0, self.null_text_embedding
        )

    def _text(self, count: int, pooled, tokens, mask) -> tuple[torch.Tensor, ...]:
        if pooled is None and tokens is None and mask is None:
            empty = self.null_text()
            return (
                empty.pooled.expand(count, -1),
                empty.tokens.expand(count, -1, -1),
                empty.mask.expand(count, -1),
            )
        c = self.config
        shapes = {
            "text_embedding": (pooled, (count, c.text_dim)),
            "text_tokens": (tokens, (count, c.text_tokens, c.text_dim)),
            "text_mask": (mask, (count, c.text_tokens)),
        }
        for name, (value, shape) in shapes.items():
            if value is None or tuple(value.shape) != shape:
                got = None if value is None else tuple(value.shape)
                raise ValueError(f"{name} must be {list(shape)}, got {got}")
        return pooled, tokens, mask.bool()

    def _check_input(self, x: torch.Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.config.image_channels:
            raise ValueError(
                f"expected images [B, {self.config.image_channels}, H, W], got {tuple(x.shape)}"
            )
        factor = 2**self.config.downsamplings
        if self.config.layout == "pb2025" and (x.shape[2] % factor or x.shape[3] % factor):
            raise ValueError(f"the pb2025 network needs H and W divisible by {factor}")


# --- layout "standard" (Ho et al. 2020, with lucidrains' lighter skip pattern) ---------------
class DownLevel(nn.Module):
    """blocks x (ResBlock [-> attention] -> keep as skip), then a stride-2 conv."""

    def __init__(self, c_in, c_out, attention, downsample, cfg):
        super().__init__()
        dim, groups = cfg.time_embedding_dim, cfg.norm_groups
        self.blocks = nn.ModuleList(
            ResBlock(c_in if i == 0 else c_out, c_out, dim, groups, cfg.dropout)
            for i in range(cfg.blocks_per_level)
        )
        self.attns = nn.ModuleList(
            _attention_or_identity(attention, c_out, cfg) for _ in range(cfg.blocks_per_level)
        )
        self.down = nn.Conv2d(c_out, c_out, 3, stride=2, padding=1) if downsample else None

    def forward(self, h, act_emb, skips, context: Context | None = None):
        for block, attn in zip(self.blocks, self.attns):
            h = attn(block(h, act_emb), context)
            skips.append(h)
        return self.down(h) if self.down is not None else h


class UpLevel(nn.Module):
    """blocks x (concat the matching skip -> ResBlock [-> attention]), then up-sample to the
    next skip's size (nearest + conv3x3), so odd sizes such as 84 -> 42 -> 21 -> 11 work."""

    def __init__(self, c_in, c_out, attention, upsample, cfg):
        super().__init__()
        dim, groups = cfg.time_embedding_dim, cfg.norm_groups
        self.blocks = nn.ModuleList(
            ResBlock((c_in if i == 0 else c_out) + c_out, c_out, dim, groups, cfg.dropout)
            for i in range(cfg.blocks_per_level)
        )
        self.attns = nn.ModuleList(
            _attention_or_identity(attention, c_out, cfg) for _ in range(cfg.blocks_per_level)
        )
        self.up = Upsample(c_out) if upsample else None

    def forward(self, h, act_emb, skips, context: Context | None = None):
        for block, attn in zip(self.blocks, self.attns):
            h = attn(block(torch.cat([h, skips.pop()], dim=1), act_emb), context)
        if self.up is not None:
            h = self.up(h, skips[-1].shape[-2:])
        return h


def _build_standard(cfg: UNetConfig):
    channels, attention, last = cfg.channels, cfg.attention_levels, len(cfg.channels) - 1
    widths_in = (channels[0], *channels[:-1])
    downs = nn.ModuleList(
        DownLevel(c_in, c_out, attention[i], i < last, cfg)
        for i, (c_in, c_out) in enumerate(zip(widths_in, channels))
    )
    widths_in = (channels[-1], *channels[::-1][:-1])  # level i receives level i+1's output
    ups = nn.ModuleList(
        UpLevel(c_in, channels[i], attention[i], i > 0, cfg)
        for i, c_in in zip(reversed(range(last + 1)), widths_in)
    )
    return downs, ups, channels[0]


# --- layout "pb2025" (the 2025 Pico-Banana student project's network, docs/design.md) --------
class PB2025DownLevel(nn.Module):
    """Keep the input as the skip; ResBlock -> attention -> conv4x4/2 down-sampling."""

    def __init__(self, c_in, c_out, downsample, cfg):
        super().__init__()
        self.block = ResBlock(c_in, c_out, cfg.time_embedding_dim, cfg.norm_groups, cfg.dropout)
        self.attn = Attention(c_out, cfg.heads, cfg.attention_norm_groups, cfg.text_dim)
        self.down = nn.Conv2d(c_out, c_out, 4, stride=2, padding=1) if downsample else None

    def forward(self, h, act_emb, skips, context: Context | None = None):
        skips.append(h)
        h = self.attn(self.block(h, act_emb), context)
        return self.down(h) if self.down is not None else h


class PB2025UpLevel(nn.Module):
    """ConvTranspose4x4/2 (halving channels) -> concat the skip -> ResBlock -> attention."""

    def __init__(self, c_in, c_out, upsample, cfg):
        super().__init__()
        self.up = nn.ConvTranspose2d(c_in, c_in // 2, 4, stride=2, padding=1) if upsample else None
        self.block = ResBlock(c_in, c_out, cfg.time_embedding_dim, cfg.norm_groups, cfg.dropout)
        self.attn = Attention(c_out, cfg.heads, cfg.attention_norm_groups, cfg.text_dim)

    def forward(self, h, act_emb, skips, context: Context | None = None):
        if self.up is not None:
            h = self.up(h)
        return self.attn(self.block(torch.cat([h, skips.pop()], dim=1), act_emb), context)


def _build_pb2025(cfg: UNetConfig):
    down, up = cfg.channels, cfg.up_channels
    downs = nn.ModuleList(
        PB2025DownLevel(down[i], down[i + 1], cfg.down_sample[i], cfg) for i in range(len(down) - 1)
    )
    upsample = list(reversed(cfg.down_sample))
    ups = nn.ModuleList(
        PB2025UpLevel(up[j], up[j + 1], upsample[j], cfg) for j in range(len(up) - 1)
    )
    return downs, ups, up[-1]


def _attention_or_identity(enabled: bool, channels: int, cfg: UNetConfig) -> nn.Module:
    if not enabled:
        return NoAttention()
    return Attention(channels, cfg.heads, cfg.attention_norm_groups, cfg.text_dim)
