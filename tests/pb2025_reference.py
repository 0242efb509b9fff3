"""An independent re-statement of the U-Net of the 2025 Pico-Banana student project (pb2025), with
its module names and layers (docs/design.md; TGMAPA/AI-pico-banana-project, dev/src/model/Unet),
used as an oracle for the converter. Attention is nn.MultiheadAttention as in pb2025;
`need_weights` picks whether the full attention matrix is materialised (pb2025's default: True)."""

from __future__ import annotations

import torch
from torch import nn


class TimeEmbedding(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim
        self.fc = nn.Sequential(nn.Linear(dim, dim), nn.SiLU(), nn.Linear(dim, dim))

    def forward(self, time_steps):
        half = self.dim // 2
        freq = 10000 ** (torch.arange(0, half, device=time_steps.device) / half)
        angles = time_steps.float().unsqueeze(1).repeat(1, half) / freq
        return self.fc(torch.cat([torch.sin(angles), torch.cos(angles)], dim=-1))


class Resnet(nn.Module):
    def __init__(self, c_in, c_out, dim):
        super().__init__()
        self.conv_block1 = nn.Sequential(
            nn.GroupNorm(1, c_in), nn.SiLU(), nn.Conv2d(c_in, c_out, 3, padding=1)
        )
        self.time_embedding_mlp = nn.Sequential(nn.SiLU(), nn.Linear(dim, c_out))
        self.conv_block2 = nn.Sequential(
            nn.GroupNorm(1, c_out), nn.SiLU(), nn.Conv2d(c_out, c_out, 3, padding=1)
        )
        self.skip_conv = nn.Conv2d(c_in, c_out, 1) if c_in != c_out else nn.Identity()

    def forward(self, x, emb):
        h = self.conv_block1(x) + self.time_embedding_mlp(emb)[:, :, None, None]
        return self.conv_block2(h) + self.skip_conv(x)


class SelfAttention(nn.Module):
    need_weights = True

    def __init__(self, channels, groups=8, heads=4):
        super().__init__()
        self.normblock = nn.GroupNorm(groups, channels)
        self.multiHeadAttention = nn.MultiheadAttention(channels, heads, batch_first=True)

    def forward(self, x):
        b, c, h, w = x.shape
        tokens = self.normblock(x.reshape(b, c, h * w)).transpose(1, 2)
        out, _ = self.multiHeadAttention(tokens, tokens, tokens, need_weights=self.need_weights)
        return x + out.transpose(1, 2).reshape(b, c, h, w)


class DownBlock(nn.Module):
    def __init__(self, c_in, c_out, dim, down_sample):
        super().__init__()
        self.resnet = Resnet(c_in, c_out, dim)
        self.attn = SelfAttention(c_out)
        self.down_sample_conv = nn.Conv2d(c_out, c_out, 4, 2, 1) if down_sample else nn.Identity()

    def forward(self, x, emb):
        return self.down_sample_conv(self.attn(self.resnet(x, emb)))


class MidBlock(nn.Module):
    def __init__(self, c_in, c_out, dim):
        super().__init__()
        self.resnet1 = Resnet(c_in, c_out, dim)
        self.attn = SelfAttention(c_out)
        self.resnet2 = Resnet(c_out, c_out, dim)

    def forward(self, x, emb):
        return self.resnet2(self.attn(self.resnet1(x, emb)), emb)


class UpBlock(nn.Module):
    def __init__(self, c_in, c_out, dim, up_sample):
        super().__init__()
        self.up_sample_conv = (
            nn.ConvTranspose2d(c_in, c_in // 2, 4, 2, 1) if up_sample else nn.Identity()
        )
        self.resnet = Resnet(c_in, c_out, dim)
        self.attn = SelfAttention(c_out)

    def forward(self, x, skip, emb):
        x = torch.cat([self.up_sample_conv(x), skip], dim=1)
        return self.attn(self.resnet(x, emb))


class Unet(nn.Module):
    def __init__(
        self,
        image_channels=3,
        down=(32, 64, 128, 256),
        mid=(256, 256, 128),
        up=(256, 128, 64, 16),
        down_sample=(True, True, False),
        dim=128,
    ):
        super().__init__()
        up_sample = list(reversed(down_sample))
        self.time_embedder = TimeEmbedding(dim)
        self.conv_in = nn.Conv2d(image_channels, down[0], 3, padding=1)
        self.encoder = nn.ModuleList(
            DownBlock(down[i], down[i + 1], dim, down_sample[i]) for i in range(len(down) - 1)
        )
        self.bottleNeck = nn.ModuleList(
            MidBlock(mid[i], mid[i + 1], dim) for i in range(len(mid) - 1)
        )
        self.decoder = nn.ModuleList(
            UpBlock(up[i], up[i + 1], dim, up_sample[i]) for i in range(len(up) - 1)
        )
        self.conv_out = nn.Sequential(
            nn.GroupNorm(8, up[-1]), nn.Conv2d(up[-1], image_channels, 3, padding=1)
        )

    def forward(self, x, time_steps):
        emb = self.time_embedder(time_steps)
        out = self.conv_in(x)
        skips = []
        for block in self.encoder:
            skips.append(out)
            out = block(out, emb)
        for block in self.bottleNeck:
            out = block(out, emb)
        for block in self.decoder:
            out = block(out, skips.pop(), emb)
        return self.conv_out(out)
