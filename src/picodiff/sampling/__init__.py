"""Drawing images: the sampling engine (per-image reproducible, batch-invariant), cascades,
opening checkpoints, sharding over processes, samples folders and denoising animations."""

from ..diffusion import SAMPLERS, SamplerSettings
from ..models.batching import default_micro_batch, micro_batched
from .animation import DenoisingRecorder, check_animation_path, write_animation
from .cascade import Cascade, Stage
from .engine import (
    NetworkCall,
    NonFiniteOutput,
    OnViolation,
    call_network,
    draw,
    generate,
    image_steps,
    run_alone,
    sample_batches,
    sample_images,
)
from .output import check_out_dir, finish, read_image, sample_files, write_images
from .shard import shard_range
from .source import LegacyOptions, open_checkpoint, resolve_checkpoint_dir

METHODS = SAMPLERS  # the old name of SAMPLERS

__all__ = [
    "METHODS",
    "SAMPLERS",
    "Cascade",
    "DenoisingRecorder",
    "LegacyOptions",
    "NetworkCall",
    "NonFiniteOutput",
    "OnViolation",
    "SamplerSettings",
    "Stage",
    "call_network",
    "check_animation_path",
    "check_out_dir",
    "default_micro_batch",
    "draw",
    "finish",
    "generate",
    "image_steps",
    "micro_batched",
    "open_checkpoint",
    "read_image",
    "resolve_checkpoint_dir",
    "run_alone",
    "sample_batches",
    "sample_files",
    "sample_images",
    "shard_range",
    "write_animation",
    "write_images",
]
