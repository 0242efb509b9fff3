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
    sample_dpmpp_2m_sde,
    sample_dpmpp_3m,
    sample_euler,
    sample_heun,
    sample_ipndm,
    sample_unipc,
    sampling_steps,
    spaced_timesteps,
)
from .schedules import NoiseSchedule, TerminalSNRWarning, rescale_zero_terminal_snr
from .settings import (
    DEFAULT_SAMPLER,
    DEFAULT_STEPS,
    SAMPLERS,
    SPACINGS,
    Sampler,
    SamplerSettings,
    Spacing,
    default_steps,
)

__all__ = [
    "DEFAULT_SAMPLER",
    "DEFAULT_STEPS",
    "SAMPLERS",
    "SPACINGS",
    "NoiseSchedule",
    "Prediction",
    "Sampler",
    "SamplerSettings",
    "SamplingCancelled",
    "Spacing",
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
    "sample_dpmpp_2m_sde",
    "sample_dpmpp_3m",
    "sample_euler",
    "sample_heun",
    "sample_ipndm",
    "sample_unipc",
    "sampling_steps",
    "spaced_timesteps",
    "training_target",
]
