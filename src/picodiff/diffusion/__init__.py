"""Model-agnostic diffusion maths: schedules, the forward process, losses and samplers."""

from .forward import (
    Prediction,
    check_samplable,
    predict_x0_eps,
    q_posterior,
    q_sample,
    training_target,
)
from .losses import diffusion_loss, min_snr_weight
from .noise import image_generators
from .samplers import (
    SamplingCancelled,
    sample,
    sample_ddim,
    sample_ddpm,
    sample_dpmpp_2m,
    spaced_timesteps,
)
from .schedules import NoiseSchedule, TerminalSNRWarning, rescale_zero_terminal_snr
from .settings import DEFAULT_STEPS, SAMPLERS, Sampler, SamplerSettings, default_steps

__all__ = [
    "DEFAULT_STEPS",
    "SAMPLERS",
    "NoiseSchedule",
    "Prediction",
    "Sampler",
    "SamplerSettings",
    "SamplingCancelled",
    "TerminalSNRWarning",
    "check_samplable",
    "default_steps",
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
