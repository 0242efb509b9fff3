"""Denoising networks: the time-conditioned U-Net, its presets and the seed converter."""

from .config import PRESETS, UNetConfig
from .seed import convert_seed_state_dict
from .unet import UNet

__all__ = ["PRESETS", "UNet", "UNetConfig", "convert_seed_state_dict"]
