"""U-Net cost per training step: parameters, saved activations and training images/s.

    python bench/unet.py                 # every case (pb2025 84/64 px batch 4, default 64 px
                                         # batch 16 beside diffusers' UNet2DModel)
    python bench/unet.py --steps 10 --skip-diffusers --skip-pb2025-code

The pb2025 project's own network (re-stated layer for layer with its nn.MultiheadAttention in
tests/pb2025_reference.py) runs beside ours at 84 px batch 4 unless --skip-pb2025-code, as that
project wrote it (need_weights=True) and with nn.MultiheadAttention's fused path
(need_weights=False).

Saved activations are the bytes autograd keeps for backward in one forward pass, measured with
torch.autograd.graph.saved_tensors_hooks (each storage counted once). Images/s is the median over
`--steps` timed steps (forward, eps-MSE loss, backward, Adam step) after one warm-up step.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch
from torch import nn

from picodiff.models import UNet, UNetConfig

PB2025_IMAGES_PER_S_84 = 0.22  # docs/design.md: the pb2025 code, 84 px batch 4, this CPU
PB2025_SAVED_MB_84 = 6816


def saved_activation_bytes(model: nn.Module, x: torch.Tensor, t: torch.Tensor) -> int:
    """Bytes of the distinct storages autograd saves for backward during one forward pass."""
    seen: dict[int, int] = {}
    params = {p.untyped_storage().data_ptr() for p in model.parameters()}

    def pack(tensor: torch.Tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in params:
            seen[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(x, t).float().square().mean().backward()
    model.zero_grad(set_to_none=True)
    return sum(seen.values())


def images_per_second(model: nn.Module, x: torch.Tensor, t: torch.Tensor, steps: int) -> float:
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    noise = torch.randn_like(x)
    timings = []
    for i in range(steps + 1):
        start = time.perf_counter()
        loss = (model(x, t) - noise).square().mean()
        loss.backward()
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        if i:  # the first step warms up allocators and kernels
            timings.append(time.perf_counter() - start)
    return x.shape[0] / statistics.median(timings)


class DiffusersAdapter(nn.Module):
    """diffusers' UNet2DModel with the same widths, blocks per level and attention levels."""

    def __init__(self, config: UNetConfig):
        super().__init__()
        from diffusers import UNet2DModel

        attn = config.attention_levels
        width = next((c for c, a in zip(config.channels, attn) if a), config.channels[-1])
        self.net = UNet2DModel(
            sample_size=config.image_size,
            in_channels=config.image_channels,
            out_channels=config.image_channels,
            block_out_channels=config.channels,
            layers_per_block=config.blocks_per_level,
            down_block_types=tuple("AttnDownBlock2D" if a else "DownBlock2D" for a in attn),
            up_block_types=tuple("AttnUpBlock2D" if a else "UpBlock2D" for a in reversed(attn)),
            attention_head_dim=width // config.heads,
            norm_num_groups=config.norm_groups,
        )

    def forward(self, x, t):
        return self.net(x, t).sample


def measure(name: str, model: nn.Module, size: int, batch: int, channels: int, steps: int):
    x = torch.randn(batch, channels, size, size)
    t = torch.randint(0, 1000, (batch,))
    params = sum(p.numel() for p in model.parameters())
    saved_mb = saved_activation_bytes(model, x, t) / 2**20
    rate = images_per_second(model, x, t, steps)
    print(f"{name:<34} {size:>4} {batch:>5} {params / 1e6:>8.2f}M {saved_mb:>10.0f} {rate:>9.2f}")
    return rate, saved_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per case")
    parser.add_argument("--skip-diffusers", action="store_true", help="skip the diffusers case")
    parser.add_argument(
        "--skip-pb2025-code", action="store_true", help="skip the pb2025 project's own net"
    )
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, fp32, CPU")
    print(f"{'case':<34} {'px':>4} {'batch':>5} {'params':>9} {'saved MB':>10} {'images/s':>9}")
    pb84 = UNet(UNetConfig.preset("pb2025", image_size=84))
    rate84, mb84 = measure("pb2025 preset", pb84, 84, 4, 3, args.steps)
    if not args.skip_pb2025_code:
        sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
        from pb2025_reference import Unet as PB2025Code

        their_rate, their_mb = measure(
            "pb2025 code (need_weights)", PB2025Code(3), 84, 4, 3, max(2, args.steps // 2)
        )
        print(
            f"  side by side: {their_mb / mb84:.0f}x less memory, {rate84 / their_rate:.1f}x "
            "the images/s"
        )
        fused = PB2025Code(3)
        for module in fused.modules():  # the pb2025 code with nn.MultiheadAttention's fused path
            if hasattr(module, "need_weights"):
                module.need_weights = False
        fused_rate = measure("pb2025 code, need_weights=False", fused, 84, 4, 3, args.steps)[0]
        print(f"  side by side: {rate84 / fused_rate:.2f}x the images/s of its fused version")
    measure("pb2025 preset", UNet(UNetConfig.preset("pb2025", image_size=64)), 64, 4, 3, args.steps)
    default = UNetConfig.preset("default", image_size=64)
    ours = measure("default preset", UNet(default), 64, 16, 3, args.steps)[0]
    print(
        f"pb2025 84 px batch 4: {mb84:.0f} MB saved (its code: {PB2025_SAVED_MB_84} MB, "
        f"{PB2025_SAVED_MB_84 / mb84:.0f}x less), {rate84:.2f} images/s "
        f"({rate84 / PB2025_IMAGES_PER_S_84:.1f}x its code's {PB2025_IMAGES_PER_S_84})"
    )
    if not args.skip_diffusers:
        theirs = measure(
            "diffusers UNet2DModel, same shape", DiffusersAdapter(default), 64, 16, 3, args.steps
        )[0]
        print(f"default preset vs diffusers at 64 px batch 16: {ours / theirs:.2f}x images/s")


if __name__ == "__main__":
    main()
