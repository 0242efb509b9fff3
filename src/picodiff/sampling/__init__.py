"""Batch inference from checkpoints: reproducible per-image sampling, sharding over processes,
samples folders and denoising animations."""

from ..models.batching import default_micro_batch, micro_batched
from .animation import DenoisingRecorder, check_animation_path, write_animation
from .engine import METHODS, SamplerSettings, draw, generate
from .output import check_out_dir, finish, read_image, sample_files, write_images
from .shard import shard_range
from .source import LegacyOptions, open_checkpoint, resolve_checkpoint_dir

__all__ = [
    "METHODS",
    "DenoisingRecorder",
    "LegacyOptions",
    "SamplerSettings",
    "check_animation_path",
    "check_out_dir",
    "default_micro_batch",
    "draw",
    "finish",
    "generate",
    "micro_batched",
    "open_checkpoint",
    "read_image",
    "resolve_checkpoint_dir",
    "sample_files",
    "shard_range",
    "write_animation",
    "write_images",
]
