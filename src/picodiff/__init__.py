"""picodiff: train, evaluate and serve denoising diffusion (DDPM) image generators."""

__version__ = "0.1.0"
