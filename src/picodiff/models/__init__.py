"""Denoising networks: the time-conditioned U-Net, its presets, and the converter of the 2025
Pico-Banana student project's weights (pb2025)."""

from .config import PRESETS, UNetConfig
from .pb2025 import convert_pb2025_state_dict, convert_seed_state_dict
from .unet import UNet

__all__ = [
    "PRESETS",
    "UNet",
    "UNetConfig",
    "convert_pb2025_state_dict",
    "convert_seed_state_dict",
]
