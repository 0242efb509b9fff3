"""U-Net building blocks: time embedding, residual block, fused (text) attention, resampling."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint


class Checkpointed(nn.Module):
    """A block whose forward can be recomputed in backward instead of storing activations."""

    gradient_checkpointing = False

    def __call__(self, *args):
        if self.gradient_checkpointing and self.training and torch.is_grad_enabled():
            return checkpoint(super().__call__, *args, use_reentrant=False)
        return super().__call__(*args)


class TimeEmbedding(nn.Module):
    """Sinusoidal embedding of t (freq_i = 10000^(2i / dim), Vaswani et al. 2017), then an MLP."""

    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, t: torch.Tensor) -> torch.Tensor:
        half = self.dim // 2
        freqs = 10000.0 ** (torch.arange(half, device=t.device) / half)
        angles = t.float()[:, None] / freqs[None, :]  # [B, half]
        return self.mlp(torch.cat([angles.sin(), angles.cos()], dim=1))


class ResBlock(Checkpointed):
    """GroupNorm -> SiLU -> conv3x3, + projected time embedding, GroupNorm -> SiLU -> dropout ->
    conv3x3, plus a (1x1 conv) skip: Ho et al. 2020's residual block."""

    def __init__(self, c_in: int, c_out: int, time_dim: int, groups: int, dropout: float = 0.0):
        super().__init__()
        self.norm1 = nn.GroupNorm(groups, c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1)
        self.time_proj = nn.Linear(time_dim, c_out)
        self.norm2 = nn.GroupNorm(groups, c_out)
        self.dropout = nn.Dropout(dropout) if dropout > 0 else nn.Identity()
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1)
        self.skip = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x: torch.Tensor, act_emb: torch.Tensor) -> torch.Tensor:
        """act_emb is SiLU(time embedding), computed once per network call."""
        h = self.conv1(F.silu(self.norm1(x)))
        h = h + self.time_proj(act_emb)[:, :, None, None]
        h = self.conv2(self.dropout(F.silu(self.norm2(h))))
        return h + self.skip(x)


class Attention(Checkpointed):
    """Multi-head self-attention over the H*W positions, through fused scaled-dot-product
    attention (no H*W x H*W matrix is stored), with a residual connection. With `context_dim`,
    the keys and values also hold a text's word-piece states, projected (GLIDE's text
    attention, Nichol et al. 2022): `context` = (states [B, L, context_dim], mask [B, L])."""

    def __init__(self, channels: int, heads: int, groups: int, context_dim: int = 0):
        super().__init__()
        self.heads = heads
        self.norm = nn.GroupNorm(groups, channels)
        self.qkv = nn.Linear(channels, 3 * channels)
        self.context_kv = nn.Linear(context_dim, 2 * channels) if context_dim else None
        self.proj = nn.Linear(channels, channels)

    def forward(self, x: torch.Tensor, context: Context | None = None) -> torch.Tensor:
        b, c, height, width = x.shape
        tokens = self.norm(x).flatten(2).transpose(1, 2)  # [B, HW, C]
        qkv = self.qkv(tokens).unflatten(-1, (3, self.heads, c // self.heads))
        q, k, v = qkv.permute(2, 0, 3, 1, 4)  # each [B, heads, HW, C/heads]
        mask = None
        if self.context_kv is not None:
            states, present = _context(context, b)
            kv = self.context_kv(states).unflatten(-1, (2, self.heads, c // self.heads))
            k_text, v_text = kv.permute(2, 0, 3, 1, 4)  # each [B, heads, L, C/heads]
            k, v = torch.cat([k, k_text], dim=2), torch.cat([v, v_text], dim=2)
            # every image position is a key, and the text's word pieces: [B, 1, 1, HW + L]
            mask = F.pad(present, (height * width, 0), value=True)[:, None, None, :]
        out = fused_attention(q, k, v, mask)
        out = self.proj(out.transpose(1, 2).flatten(2))  # [B, HW, C]
        return x + out.transpose(1, 2).reshape(b, c, height, width)


Context = tuple[torch.Tensor, torch.Tensor]  # a text's word-piece states and their mask


def _context(context: Context | None, count: int) -> Context:
    if context is None or context[0].shape[0] != count:
        raise ValueError(f"a text-conditional attention layer needs the text of all {count} rows")
    return context


class NoAttention(nn.Module):
    """A level without attention: the input, whatever the context."""

    def forward(self, x: torch.Tensor, context: Context | None = None) -> torch.Tensor:
        return x


def fused_attention(
    q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """softmax(q k^T / sqrt(d)) v without storing the attention matrix; `mask` (boolean,
    broadcast to the scores) keeps the keys where it is True.

    PyTorch's CPU flash kernel is slowest for tiny heads (d = 4 runs 1.5x longer than d = 16), so
    heads narrower than 16 are zero-padded to 16: zeros add nothing to q.k and the padded output
    columns are dropped, so the result is the same (bench/unet.py measures the gain).
    """
    d = q.shape[-1]
    if d >= MIN_FAST_HEAD_DIM or q.device.type != "cpu":
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    pad = (0, MIN_FAST_HEAD_DIM - d)
    out = F.scaled_dot_product_attention(
        F.pad(q, pad), F.pad(k, pad), F.pad(v, pad), attn_mask=mask, scale=d**-0.5
    )
    return out[..., :d]


MIN_FAST_HEAD_DIM = 16


class MidBlock(nn.Module):
    """ResBlock -> attention -> ResBlock at the lowest resolution."""

    def __init__(self, c_in: int, c_out: int, time_dim: int, cfg):
        super().__init__()
        self.block1 = ResBlock(c_in, c_out, time_dim, cfg.norm_groups, cfg.dropout)
        self.attn = Attention(c_out, cfg.heads, cfg.attention_norm_groups, cfg.text_dim)
        self.block2 = ResBlock(c_out, c_out, time_dim, cfg.norm_groups, cfg.dropout)

    def forward(
        self, h: torch.Tensor, act_emb: torch.Tensor, context: Context | None = None
    ) -> torch.Tensor:
        return self.block2(self.attn(self.block1(h, act_emb), context), act_emb)


class Upsample(nn.Module):
    """Nearest-neighbour up-sampling to the skip's size, then conv3x3 (works for odd sizes)."""

    def __init__(self, channels: int):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1)

    def forward(self, h: torch.Tensor, size: torch.Size) -> torch.Tensor:
        return self.conv(F.interpolate(h, size=size, mode="nearest"))
