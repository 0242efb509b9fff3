"""Options shared by `picodiff sample`, `fid` and `report`: which weights, which sampler."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..checkpoint import Checkpoint
from ..diffusion import DEFAULT_SAMPLER, DEFAULT_STEPS, SAMPLERS, SPACINGS, SamplerSettings
from ..errors import OptionError, UserError
from ..models.conditioning import DEFAULT_GUIDANCE, Conditioning, clean_prompt, default_guidance
from ..sampling import LegacyOptions, open_checkpoint
from ..sampling.presets import PRESET_NAMES, Presets, choose_settings

STEPS_HELP = (
    f"denoising steps (default: ddpm all T, ddim {DEFAULT_STEPS['ddim']}, the multistep "
    f"solvers {DEFAULT_STEPS['dpmpp2m']}; never more than the model's T)"
)


def add_sampler_arguments(parser: argparse.ArgumentParser, default_n: int) -> None:
    group = parser.add_argument_group("sampling")
    group.add_argument(
        "--n",
        "--num-images",
        dest="n",
        type=int,
        default=default_n,
        help="number of images (under torchrun write --num-images: torchrun "
        "reads --n as an abbreviation of its own --nnodes/--nproc-per-node)",
    )
    group.add_argument(
        "--sampler",
        choices=SAMPLERS,
        help="reverse sampler (default: the model's default preset if it has presets, else "
        f"{DEFAULT_SAMPLER})",
    )
    group.add_argument(
        "--preset",
        choices=PRESET_NAMES,
        help="the sampler, steps and spacing the model's own measured FID-NFE curve picked "
        "(its metadata.sampling; GET /api/models lists them)",
    )
    group.add_argument("--steps", type=int, help=STEPS_HELP)
    group.add_argument("--eta", type=float, default=0.0, help="ddim noise (0: deterministic)")
    group.add_argument(
        "--spacing",
        choices=SPACINGS,
        help="timestep spacing (default: linear for ddpm and ddim, logsnr for the others)",
    )
    group.add_argument("--seed", type=int, default=0, help="image i depends on (seed, i) only")
    group.add_argument("--batch-size", type=int, default=16, help="images sampled together")
    group.add_argument(
        "--micro-batch",
        type=int,
        help="images per network call, fixed so that results do not depend on --batch-size "
        "(default: 4 on a CPU, 64 on a GPU)",
    )
    group.add_argument("--no-ema", action="store_true", help="use the raw weights, not the EMA")
    group.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    legacy = parser.add_argument_group("legacy .pt/.pth state dicts (no config inside)")
    legacy.add_argument("--image-size", type=int, default=64, help="resolution it was trained at")
    legacy.add_argument("--T", type=int, default=1000, help="diffusion steps it was trained with")
    legacy.add_argument("--beta-start", type=float, default=1e-4, help="first beta")
    legacy.add_argument("--beta-end", type=float, default=0.02, help="last beta")


def add_condition_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("conditional models")
    choose = group.add_mutually_exclusive_group()
    choose.add_argument("--label", help="class models: a name of the model's or its index")
    choose.add_argument("--prompt", help="text models: the text to draw (at most 200 characters)")
    group.add_argument(
        "--guidance",
        type=float,
        help="classifier-free guidance w (1: the conditional model, 0: unconditional; "
        f"default: the model's measured one, else {DEFAULT_GUIDANCE:g})",
    )


def condition_from(args: argparse.Namespace, model, guidance: float | None = None) -> dict:
    """sample_batches' `label` or `prompt`, and `guidance`, from --label / --prompt /
    --guidance for `model` (a checkpoint or its spec: its conditioning, metadata and path);
    without --guidance, `guidance`, else the model's default. Without --label, a class model
    draws its classes in turn (`every_class`, as its FID is measured; --guidance 0 draws its
    unconditional branch); without --prompt, a text model draws unconditionally ({})."""
    conditioning, where = model.conditioning, model.path
    label, prompt = args.label, getattr(args, "prompt", None)
    if label is None and prompt is None:
        if conditioning is not None and conditioning.kind == "class":
            return {"every_class": True, "guidance": _guidance(args, model, guidance)}
        if args.guidance is not None:
            raise UserError("--guidance needs --label or --prompt (what to guide towards)")
        return {}
    kind = "class" if label is not None else "text"
    if conditioning is None or conditioning.kind != kind:
        flag = "--label" if label is not None else "--prompt"
        raise UserError(f"{where}: this model is not {kind}-conditional; drop {flag}")
    if label is not None:
        try:
            condition: dict = {"label": conditioning.index(label)}
        except ValueError as err:
            raise UserError(f"--label: {err}") from None
    else:
        try:
            condition = {"prompt": clean_prompt(prompt, "--prompt")}
        except ValueError as err:
            raise UserError(str(err)) from None
    return {**condition, "guidance": _guidance(args, model, guidance)}


def _guidance(args: argparse.Namespace, model, guidance: float | None) -> float:
    """--guidance, else `guidance`, else the model's default."""
    if args.guidance is not None:
        if not args.guidance >= 0 or args.guidance == float("inf"):
            raise UserError(f"--guidance must be a finite number >= 0, got {args.guidance}")
        return args.guidance
    if guidance is not None:
        return guidance
    try:
        return default_guidance(model.metadata)
    except ValueError as err:
        raise UserError(f"{model.path}: {err}") from None


def described(conditioning: Conditioning | None, condition: dict) -> dict:
    """A condition as reports and provenance record it: the label's name or the prompt, and
    the guidance."""
    if not condition:
        return {}
    if "prompt" in condition:
        return {"prompt": condition["prompt"], "guidance": condition["guidance"]}
    if condition.get("every_class"):
        count = len(conditioning.labels)  # type: ignore[union-attr]
        return {"label": f"image i: class i mod {count}", "guidance": condition["guidance"]}
    name = conditioning.labels[condition["label"]]  # type: ignore[union-attr]
    return {"label": name, "guidance": condition["guidance"]}


def check_counts(args: argparse.Namespace) -> None:
    for flag in ("n", "batch_size", "micro_batch", "grid_n"):
        value = getattr(args, flag, None)
        if value is not None and value < 1:
            raise UserError(f"--{flag.replace('_', '-')} must be >= 1, got {value}")


def settings_for(args: argparse.Namespace, checkpoint: Checkpoint) -> SamplerSettings:
    """--preset, or --sampler, --steps, --eta and --spacing with the model's default preset
    filling in what is not given (eta applies to ddim only)."""
    try:
        presets = Presets.from_metadata(checkpoint.metadata)
    except ValueError as err:
        raise UserError(f"{checkpoint.path}: {err}") from None
    options = (args.preset, args.sampler, args.steps, args.eta, args.spacing)
    try:
        return choose_settings(presets, *options)
    except OptionError as err:
        raise UserError(f"--{err.field}: {err}") from None


def open_model(
    args: argparse.Namespace, path: str | Path, device
) -> tuple[Checkpoint, SamplerSettings]:
    """The checkpoint at `path` and the sampler settings resolved against its own T."""
    if args.sampler is not None:  # bad options refused before the model is read
        SamplerSettings(args.sampler, args.steps, args.eta, args.spacing)
    legacy = LegacyOptions(args.image_size, args.T, args.beta_start, args.beta_end)
    checkpoint = open_checkpoint(path, use_ema=not args.no_ema, legacy=legacy, device=device)
    return checkpoint, settings_for(args, checkpoint).resolve(checkpoint.schedule.T)
