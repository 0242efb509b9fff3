"""Load weights saved by the code of the 2025 Pico-Banana student project
(TGMAPA/AI-pico-banana-project) into the "pb2025" preset: module names are renamed, tensors are
kept as they are."""

from __future__ import annotations

import re
from collections.abc import Mapping

import torch

from ..deprecation import warn_renamed

# (pb2025 name pattern, our name); applied to each key in turn, first match wins per segment.
_RENAMES = [
    (r"^time_embedder\.fc\.", "time_embed.mlp."),
    (r"^encoder\.(\d+)\.resnet\.", r"downs.\1.block."),
    (r"^encoder\.(\d+)\.attn\.", r"downs.\1.attn."),
    (r"^encoder\.(\d+)\.down_sample_conv\.", r"downs.\1.down."),
    (r"^bottleNeck\.(\d+)\.resnet1\.", r"mid.\1.block1."),
    (r"^bottleNeck\.(\d+)\.resnet2\.", r"mid.\1.block2."),
    (r"^bottleNeck\.(\d+)\.attn\.", r"mid.\1.attn."),
    (r"^decoder\.(\d+)\.up_sample_conv\.", r"ups.\1.up."),
    (r"^decoder\.(\d+)\.resnet\.", r"ups.\1.block."),
    (r"^decoder\.(\d+)\.attn\.", r"ups.\1.attn."),
    (r"^conv_out\.0\.", "out_norm."),
    (r"^conv_out\.1\.", "out_conv."),
    # inside a pb2025 Resnet
    (r"\.conv_block1\.0\.", ".norm1."),
    (r"\.conv_block1\.2\.", ".conv1."),
    (r"\.conv_block2\.0\.", ".norm2."),
    (r"\.conv_block2\.2\.", ".conv2."),
    (r"\.time_embedding_mlp\.1\.", ".time_proj."),
    (r"\.skip_conv\.", ".skip."),
    # inside a pb2025 SelfAttention (nn.MultiheadAttention packs q, k, v like our qkv Linear)
    (r"\.normblock\.", ".norm."),
    (r"\.multiHeadAttention\.in_proj_weight$", ".qkv.weight"),
    (r"\.multiHeadAttention\.in_proj_bias$", ".qkv.bias"),
    (r"\.multiHeadAttention\.out_proj\.", ".proj."),
]
_PB2025_ROOTS = ("time_embedder.", "conv_in.", "encoder.", "bottleNeck.", "decoder.", "conv_out.")


def convert_pb2025_state_dict(
    state_dict: Mapping[str, torch.Tensor],
) -> dict[str, torch.Tensor]:
    """Rename a pb2025 U-Net state dict (or its Lightning wrapper's, keys under "model.", or a
    Lightning checkpoint with a "state_dict" entry) to the names of UNet(preset "pb2025")."""
    if "state_dict" in state_dict and isinstance(state_dict["state_dict"], Mapping):
        state_dict = state_dict["state_dict"]
    if not any(k.startswith(_PB2025_ROOTS) for k in state_dict) and all(
        k.startswith("model.") for k in state_dict
    ):
        state_dict = {k.removeprefix("model."): v for k, v in state_dict.items()}
    unknown = [k for k in state_dict if not k.startswith(_PB2025_ROOTS)]
    if unknown:
        raise ValueError(
            f"not a pb2025 U-Net state dict: unexpected keys {unknown[:5]}"
            f"{' ...' if len(unknown) > 5 else ''} (expected names under {list(_PB2025_ROOTS)})"
        )
    return {_rename(k): v for k, v in state_dict.items()}


def pb2025_image_channels(state_dict: Mapping[str, torch.Tensor]) -> int:
    """The image channel count of a converted pb2025 state dict (conv_in's input width)."""
    return int(state_dict["conv_in.weight"].shape[1])


def _rename(key: str) -> str:
    for pattern, replacement in _RENAMES:
        key = re.sub(pattern, replacement, key)
    return key


def convert_seed_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """The old name of convert_pb2025_state_dict."""
    warn_renamed("function", "convert_seed_state_dict", "convert_pb2025_state_dict")
    return convert_pb2025_state_dict(state_dict)
