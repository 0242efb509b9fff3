"""Model-agnostic diffusion maths: schedules, the forward process, losses and samplers."""

from .forward import Prediction, predict_x0_eps, q_posterior, q_sample, training_target
from .losses import diffusion_loss, min_snr_weight
from .noise import image_generators
from .samplers import (
    DEFAULT_STEPS,
    SamplingCancelled,
    sample,
    sample_ddim,
    sample_ddpm,
    sample_dpmpp_2m,
    spaced_timesteps,
)
from .schedules import NoiseSchedule, TerminalSNRWarning, rescale_zero_terminal_snr

__all__ = [
    "DEFAULT_STEPS",
    "NoiseSchedule",
    "Prediction",
    "SamplingCancelled",
    "TerminalSNRWarning",
    "diffusion_loss",
    "image_generators",
    "min_snr_weight",
    "predict_x0_eps",
    "q_posterior",
    "q_sample",
    "rescale_zero_terminal_snr",
    "sample",
    "sample_ddim",
    "sample_ddpm",
    "sample_dpmpp_2m",
    "spaced_timesteps",
    "training_target",
]
