"""SamplerSettings: which reverse sampler, how many steps, its noise and spacing; the one policy
that resolves their defaults against a model's T.

    SamplerSettings("ddim").resolve(T=40)   # SamplerSettings(sampler='ddim', steps=40, ...)

Every path that draws images (the CLI, `fid`, `report`, cascades, the server, the trainer's
grids) builds one of these, so a default, a limit or the eta rule cannot differ between them.
"""

from __future__ import annotations

import dataclasses
from dataclasses import InitVar, dataclass
from typing import Literal, get_args

from ..choices import check_fields
from ..deprecation import warn_renamed
from ..errors import OptionError

Sampler = Literal[
    "ddpm",
    "ddim",
    "dpmpp2m",
    "dpmpp3m",
    "unipc2",
    "unipc3",
    "ipndm",
    "dpmpp2m-sde",
    "euler",
    "heun",
]
MULTISTEP = ("dpmpp2m", "dpmpp3m", "unipc2", "unipc3", "ipndm", "dpmpp2m-sde")
Spacing = Literal["linear", "trailing", "logsnr", "karras"]
SAMPLERS: tuple[str, ...] = get_args(Sampler)
DEFAULT_SAMPLER: Sampler = "dpmpp2m"  # a model with sampling presets draws with its own default
SPACINGS: tuple[str, ...] = get_args(Spacing)
# a sampler's default step count (ddpm: all T steps), before clamping to the model's T
# (heun: 18 steps = 35 network calls, EDM's CIFAR-10 setting)
DEFAULT_STEPS: dict[str, int] = {
    "ddim": 50,
    "euler": 20,
    "heun": 18,
    **dict.fromkeys(MULTISTEP, 20),
}
# DDPM and DDIM step evenly in t; the others evenly in log-SNR, as DPM-Solver recommends for
# low-resolution images (Lu et al. 2022, sec. 5) and UniPC uses for pixel models. (Karras
# sigmas, EDM's choice, waste steps where a DDPM schedule's sigma_max is huge: cosine, zero SNR.)
DEFAULT_SPACING: dict[str, str] = {
    "ddpm": "linear",
    "ddim": "linear",
    **dict.fromkeys((*MULTISTEP, "euler", "heun"), "logsnr"),
}


@dataclass(frozen=True)
class SamplerSettings:
    """A reverse sampler and its options; None means the policy's default (see `resolve`).

    eta (DDIM's noise scale, Song et al. 2020 eq. 16) applies to "ddim" only: any other
    sampler with eta != 0 is refused rather than silently ignored.
    """

    sampler: Sampler = DEFAULT_SAMPLER
    steps: int | None = None
    eta: float = 0.0
    spacing: Spacing | None = None
    method: InitVar[str | None] = None  # the old name of `sampler`

    def __post_init__(self, method: str | None) -> None:
        if method is not None:
            warn_renamed("SamplerSettings argument", "method", "sampler", stacklevel=4)
            object.__setattr__(self, "sampler", method)
        check_fields(self)
        steps, eta = self.steps, self.eta
        if steps is not None and (isinstance(steps, bool) or not isinstance(steps, int)):
            raise OptionError(f"steps must be a whole number, got {steps!r}", field="steps")
        if steps is not None and steps < 1:
            raise OptionError(f"steps must be at least 1, got {steps}", field="steps")
        if isinstance(eta, bool) or not isinstance(eta, int | float) or not eta >= 0:
            raise OptionError(f"eta must be a number >= 0, got {eta!r}", field="eta")
        if eta and self.sampler != "ddim":
            raise OptionError(
                f"eta applies to the ddim sampler only, not {self.sampler} (leave it at 0)",
                field="eta",
            )

    def resolve(self, T: int, max_steps: int | None = None) -> SamplerSettings:
        """These settings with every default filled in for a model of T steps.

        Default steps: 50 for ddim, 18 for heun, 20 for the others, T for ddpm, never more than
        T (nor `max_steps`, a server's limit). Steps given explicitly beyond T are refused.
        """
        if self.steps is not None and self.steps > T:
            raise OptionError(
                f"steps must be at most the model's T = {T}, got {self.steps}", field="steps"
            )
        steps = self.steps or min(DEFAULT_STEPS.get(self.sampler, T), T, max_steps or T)
        spacing = self.spacing or DEFAULT_SPACING[self.sampler]
        return dataclasses.replace(self, steps=steps, spacing=spacing)

    def describe(self) -> dict:
        """The JSON of these settings (samples.json, reports, jobs)."""
        return {name: getattr(self, name) for name in ("sampler", "steps", "eta", "spacing")}


def default_steps(T: int, max_steps: int | None = None) -> dict[str, int]:
    """Each sampler's default step count for a model of T steps (GET /api/models shows it)."""
    return {s: SamplerSettings(s).resolve(T, max_steps).steps for s in SAMPLERS}  # type: ignore
