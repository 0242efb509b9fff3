"""The sampling engine: the one place that turns a model, rows of (seed, index), sampler settings
and a callback into images. The CLI, `fid`, `report`, cascades, the server and the trainer's
sample grids all draw through it.

`image_steps` is the engine as a generator of `NetworkCall`s: it yields what it needs the
network for, is sent the output, and returns the images. `sample_images` runs one such batch by
itself; the server's worker runs many, each at its own step, through shared calls
(`call_network`: one pass of a network over the rows of several calls, each row at its own
t).

Two things make image (seed, i) the same bits whatever batch or call it is drawn in:
- noise: image i's noise comes from its own generator, seeded from (seed, i)
  (`picodiff.diffusion.image_generators`), so it does not depend on its batch;
- the network is always called on blocks of exactly `micro_batch` images
  (`picodiff.models.batching`), so a row's result depends only on the block's shape, never on
  the other rows (nor their timesteps), as long as M (and each process's thread count) stays
  the same.

Every network output is checked: NaN or inf raises NonFiniteOutput (no image is returned), and a
final x0 prediction far outside [-1, 1] is reported to `on_violation`; `observe`, if given,
sees every call and its output (`picodiff.sampling.monitor.NoiseProbe`).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Generator, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from ..checkpoint import Checkpoint
from ..deprecation import warn_renamed
from ..diffusion import SamplerSettings, image_generators, predict_x0_eps, sampling_steps
from ..diffusion.samplers import Callback
from ..diffusion.steppers import drive, relay
from ..diffusion.superres import sampling_inputs
from ..errors import UserError
from ..models.batching import default_micro_batch, micro_batched
from ..models.conditioning import classes_in_turn
from ..pixels import to_uint8

X0_LIMIT = 1.5  # |x0| beyond this at the last step counts as an output-range violation
OnViolation = Callable[[str], None]
# observe(schedule, prediction, x, t, output) after every network call
Observe = Callable[..., None]


class NonFiniteOutput(UserError, RuntimeError):
    """The network produced NaN or inf: its weights are broken, so no image is returned."""

    def __init__(self, step: int, total: int):
        super().__init__(
            f"the network produced non-finite values (NaN or inf) at denoising step {step + 1} "
            f"of {total}; its weights are broken, no image was returned"
        )
        self.step, self.total = step, total


@dataclass(frozen=True, eq=False)
class NetworkCall:
    """What a batch of images needs from a network: its output at x [B, C, H, W] and
    timesteps t [B], with per-row keyword inputs (a super-resolution stage's conditioning)."""

    net: nn.Module
    x: torch.Tensor
    t: torch.Tensor
    inputs: Mapping[str, torch.Tensor] = field(default_factory=dict)


ImageSteps = Generator[NetworkCall, torch.Tensor, torch.Tensor]


def sample_images(
    model: Checkpoint,
    indices: Sequence[int],
    settings: SamplerSettings | None = None,
    *,
    micro_batch: int | None = None,
    **options,
) -> torch.Tensor:
    """Images (seed, index) for each index: [len(indices), C, H, W] in [-1, 1].

    options (see `image_steps`): `seed`, one seed for every index or one per index; for a
    super-resolution model `low_res` [B, C, h, w] in [-1, 1], noised at `aug_level` (a
    fraction of T; default: the level it was trained to be sampled at); `callback` and
    `on_violation`. micro_batch defaults to 4 on a CPU, 64 on a GPU.
    """
    return run_alone(image_steps(model, indices, settings, **options), micro_batch)


def image_steps(
    model: Checkpoint,
    indices: Sequence[int],
    settings: SamplerSettings | None = None,
    *,
    seed: int | Sequence[int] = 0,
    low_res: torch.Tensor | None = None,
    aug_level: float | None = None,
    callback: Callback | None = None,
    on_violation: OnViolation | None = None,
    observe: Observe | None = None,
    labels: Sequence[int | None] | None = None,
    prompts: Sequence[str | None] | None = None,
    guidance: float = 1.0,
) -> ImageSteps:
    """`sample_images` as a generator: yields a NetworkCall per network evaluation, is sent
    the network's output, returns the images. Run it inside torch.inference_mode().

    A class-conditional model takes `labels` (one class index per image; None: unconditional),
    a text-conditional one `prompts` (one text per image; None: unconditional), and both take
    `guidance` w: the prediction is u + w (c - u) from the conditional and unconditional
    predictions (classifier-free guidance, Ho & Salimans 2022, eq. 6 with w = 1 + their w), both
    from one network call of twice the rows; w = 1 is the conditional model alone, 0 the
    unconditional one."""
    settings = (settings or SamplerSettings()).resolve(model.schedule.T)
    seeds = [seed] * len(indices) if isinstance(seed, int) else list(seed)
    if len(seeds) != len(indices):
        raise ValueError(f"got {len(seeds)} seeds for {len(indices)} images")
    generators = [g for s, i in zip(seeds, indices) for g in image_generators(s, [i])]
    device = next(model.model.parameters()).device
    config, inputs = model.config, {}
    if config.low_res_size:
        if low_res is None or len(low_res) != len(indices):
            raise ValueError("a super-resolution model needs one low_res image per index")
        level = _aug_timestep(model, aug_level)
        inputs = sampling_inputs(model.schedule, low_res, level, generators, device)
    shape = (len(indices), config.image_channels, config.image_size, config.image_size)
    steps = sampling_steps(
        model.schedule,
        shape,
        sampler=settings.sampler,
        steps=settings.steps,
        eta=settings.eta,
        spacing=settings.spacing,
        generator=generators,
        prediction=model.prediction,  # type: ignore[arg-type]
        callback=callback,
        device=device,
    )

    guide = _guide(model, len(indices), labels, prompts, guidance, device)
    if guide is not None:
        inputs |= guide.conditional
    check = _checker(model, settings.steps, on_violation, observe)

    def ask(call: tuple[torch.Tensor, torch.Tensor]) -> NetworkCall:
        return (
            guide.ask(model.model, *call, inputs)
            if guide
            else NetworkCall(model.model, *call, inputs)
        )

    def reply(call: tuple[torch.Tensor, torch.Tensor], out: torch.Tensor) -> torch.Tensor:
        return check(call, guide.combine(out) if guide else out)

    return relay(steps, ask, reply)  # type: ignore


def call_network(calls: Sequence[NetworkCall], micro_batch: int) -> list[torch.Tensor]:
    """Each call's output from one micro-batched pass of their network over all their rows,
    each row at its own timestep (the calls must share one network)."""
    net = calls[0].net
    if any(call.net is not net for call in calls):
        raise ValueError("call_network takes calls to one network")
    inputs = {name: _joined([c.inputs[name] for c in calls]) for name in calls[0].inputs}
    x, t = _joined([c.x for c in calls]), _joined([c.t for c in calls])
    out = micro_batched(net, micro_batch)(x, t, **inputs)
    return list(out.split([len(c.x) for c in calls]))


def _joined(tensors: list[torch.Tensor]) -> torch.Tensor:
    """The rows of every tensor, one after another (a lone tensor as it is, not copied)."""
    return tensors[0] if len(tensors) == 1 else torch.cat(tensors)


def run_alone(steps: Generator[NetworkCall, torch.Tensor, object], micro_batch: int | None):
    """Run a generator of network calls by itself to its result."""

    def answer(call: NetworkCall) -> torch.Tensor:
        return call_network([call], micro_batch or default_micro_batch(call.x.device))[0]

    with torch.inference_mode():
        return drive(steps, answer)


def sample_batches(
    model: Checkpoint,
    indices: range,
    settings: SamplerSettings | None = None,
    *,
    seed: int = 0,
    batch_size: int = 16,
    micro_batch: int | None = None,
    callback: Callback | None = None,
    label: int | None = None,
    prompt: str | None = None,
    guidance: float = 1.0,
    every_class: bool = False,
) -> Iterator[tuple[range, np.ndarray]]:
    """Yield (indices, uint8 images [b, H, W, C]) for consecutive batches of `indices`;
    batch_size is rounded up to a multiple of micro_batch. A class-conditional model draws
    class `label`, or with `every_class` its classes in turn (`classes_in_turn`), a
    text-conditional one `prompt`, with `guidance` (None: unconditional)."""
    device = next(model.model.parameters()).device
    micro_batch = micro_batch or default_micro_batch(device)
    batch_size = -(-batch_size // micro_batch) * micro_batch
    for start in range(indices.start, indices.stop, batch_size):
        batch = range(start, min(start + batch_size, indices.stop))
        if every_class:
            condition = classes_in_turn(model.conditioning, batch, guidance)
        else:
            labels = None if label is None else [label] * len(batch)
            prompts = None if prompt is None else [prompt] * len(batch)
            condition = {"labels": labels, "prompts": prompts, "guidance": guidance}
        images = sample_images(
            model, batch, settings, seed=seed, micro_batch=micro_batch, callback=callback,
            **condition,
        )  # fmt: skip
        yield batch, to_uint8(images)


def _checker(model: Checkpoint, steps: int, on_violation: OnViolation | None, observe=None):
    """reply(call, output) -> output, raising NonFiniteOutput on NaN/inf, reporting a
    last-step x0 outside [-1, 1] (`on_violation("x0_range")`) and showing `observe` the call."""
    alpha_bar_0 = float(model.schedule.alpha_bars[0])
    calls = itertools.count()

    def reply(call: tuple[torch.Tensor, torch.Tensor], out: torch.Tensor) -> torch.Tensor:
        x, t = call
        step = next(calls)
        if not bool(torch.isfinite(out).all()):
            raise NonFiniteOutput(step, steps)
        if on_violation is not None and int(t[0]) == 0:
            x0, _ = predict_x0_eps(model.prediction, x, out, alpha_bar_0)  # type: ignore
            if float(x0.abs().max()) > X0_LIMIT:
                on_violation("x0_range")
        if observe is not None:
            observe(model.schedule, model.prediction, x, t, out)
        return out

    return reply


@dataclass(frozen=True)
class _Guidance:
    """The condition inputs of a batch and, when guided, how its doubled calls are made and
    combined."""

    conditional: dict[str, torch.Tensor]  # the unconditional inputs for unconditional rows
    unconditional: dict[str, torch.Tensor]  # only when doubled
    weight: float

    @property
    def doubled(self) -> bool:
        return self.weight not in (0.0, 1.0)

    def ask(self, net, x, t, inputs) -> NetworkCall:
        if not self.doubled:
            return NetworkCall(net, x, t, inputs)
        twice = {name: torch.cat([value, value]) for name, value in inputs.items()}
        for name, value in self.unconditional.items():
            twice[name] = torch.cat([self.conditional[name], value])
        return NetworkCall(net, torch.cat([x, x]), torch.cat([t, t]), twice)

    def combine(self, out: torch.Tensor) -> torch.Tensor:
        if not self.doubled:
            return out
        conditional, unconditional = out.chunk(2)
        return unconditional + self.weight * (conditional - unconditional)


def _guide(
    model: Checkpoint, count: int, labels, prompts, guidance: float, device
) -> _Guidance | None:
    """The guidance of a batch of a conditional model (None for an unconditional one): one
    class index (class models) or prompt (text models) per image, None: unconditional."""
    conditioning = model.conditioning
    kind = conditioning.kind if conditioning else None
    for given, wanted, name in ((labels, "class", "label"), (prompts, "text", "prompt")):
        if given is not None and kind != wanted:
            raise UserError(f"this model is not {wanted}-conditional: it takes no {name}")
    if conditioning is None:
        if guidance != 1.0:
            raise UserError("this model is unconditional: it takes no guidance")
        return None
    conditions = labels if kind == "class" else prompts
    conditions = list(conditions) if conditions is not None else [None] * count
    if len(conditions) != count:
        raise ValueError(f"got {len(conditions)} conditions for {count} images")
    for condition in conditions:
        if condition is not None:
            conditioning.check(condition)
    if not math.isfinite(guidance) or guidance < 0:
        raise UserError(f"guidance must be a finite number >= 0, got {guidance}")
    rows = [None if guidance == 0 else c for c in conditions]
    weight = 1.0 if all(c is None for c in conditions) else float(guidance)
    net, doubled = model.model, weight not in (0.0, 1.0)
    unconditional = conditioning.network_inputs([None] * count, net, device) if doubled else {}
    return _Guidance(conditioning.network_inputs(rows, net, device), unconditional, weight)


def _aug_timestep(model: Checkpoint, level: float | None) -> int:
    """The conditioning-augmentation timestep of a super-resolution model."""
    if level is None:
        level = model.metadata.get("superres", {}).get("sample_aug", 0.0)
    return round(level * (model.schedule.T - 1))


def draw(checkpoint, indices, settings, *, seed, micro_batch, device=None, callback=None):
    """Deprecated: `sample_images(checkpoint, indices, settings, seed=...)`."""
    warn_renamed("function", "draw", "sample_images")
    return sample_images(
        checkpoint, indices, settings, seed=seed, micro_batch=micro_batch, callback=callback
    )


def generate(checkpoint, indices, settings, *, seed, batch_size, micro_batch, **_ignored):
    """Deprecated: `sample_batches(checkpoint, indices, settings, seed=..., batch_size=...)`."""
    warn_renamed("function", "generate", "sample_batches")
    return sample_batches(
        checkpoint,
        indices,
        settings,
        seed=seed,
        batch_size=batch_size,
        micro_batch=micro_batch,
        callback=_ignored.get("callback"),
    )
