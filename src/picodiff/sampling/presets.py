"""Sampling presets: a model's named sampler settings ("fast", "balanced", "best"), picked from
its own measured FID-against-NFE curve (`bench/nfe.py --record`), and the one it draws with
when nothing else is asked. A model without a measured curve has none; it draws with
SamplerSettings() ("dpmpp2m", its default steps).

    presets = Presets.from_metadata(checkpoint.metadata)      # None: no curve recorded
    presets.settings("fast")                                   # SamplerSettings('ddim', 5, ...)
    choose_settings(presets)                                   # the default preset's settings

The record, in a checkpoint's `metadata["sampling"]` (what `to_metadata` writes):

    {"default": "balanced",
     "presets": {"fast": {"sampler": "ddim", "steps": 5, "spacing": "linear", "nfe": 5,
                          "fid": 142.73}, ...},
     "measured": "python bench/nfe.py fashion-32 ..."}
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..diffusion import DEFAULT_SAMPLER, SAMPLERS, SPACINGS, SamplerSettings
from ..errors import OptionError

PRESET_NAMES = ("fast", "balanced", "best")
DEFAULT_PRESET = "balanced"
# balanced: the fewest network evaluations whose FID is within this factor of the best one's
BALANCED_SLACK = 1.10


@dataclass(frozen=True)
class Preset:
    """One named setting and what it measured: its network evaluations and FID."""

    sampler: str
    steps: int
    spacing: str
    nfe: int
    fid: float

    @property
    def settings(self) -> SamplerSettings:
        return SamplerSettings(self.sampler, self.steps, 0.0, self.spacing)  # type: ignore[arg-type]

    def to_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("sampler", "steps", "spacing", "nfe", "fid")}


@dataclass(frozen=True)
class Presets:
    """A model's presets by name, the default among them, and the command that measured them."""

    named: dict[str, Preset]
    default: str = DEFAULT_PRESET
    measured: str = ""

    def settings(self, name: str | None = None) -> SamplerSettings:
        """The settings of preset `name` (None: the default); an unknown name is an
        OptionError naming the field "preset"."""
        name = self.default if name is None else name
        if name not in self.named:
            raise OptionError(
                f"preset must be one of {list(self.named)}, got {name!r}", field="preset"
            )
        return self.named[name].settings

    def to_metadata(self) -> dict[str, Any]:
        named = {name: preset.to_json() for name, preset in self.named.items()}
        return {"default": self.default, "presets": named, "measured": self.measured}

    @classmethod
    def from_metadata(cls, metadata: dict[str, Any]) -> Presets | None:
        """The presets recorded in a checkpoint's metadata (None without a record); a
        malformed record is a ValueError saying what is wrong."""
        return cls.from_record(metadata.get("sampling"))

    @classmethod
    def from_record(cls, record: Any) -> Presets | None:
        """The presets of a `to_metadata` record (None for None); ValueError if malformed."""
        if record is None:
            return None
        if not isinstance(record, dict) or not isinstance(record.get("presets"), dict):
            raise ValueError('metadata "sampling" must be an object with "presets"')
        named = {name: _preset(name, value) for name, value in record["presets"].items()}
        default = record.get("default", DEFAULT_PRESET)
        if default not in named:
            raise ValueError(
                f'metadata "sampling": default {default!r} is not one of {list(named)}'
            )
        measured = record.get("measured", "")
        return cls(named, default, measured if isinstance(measured, str) else "")


def _preset(name: str, value: Any) -> Preset:
    if name not in PRESET_NAMES or not isinstance(value, dict):
        raise ValueError(f'metadata "sampling": a preset is one of {list(PRESET_NAMES)}: {{...}}')
    whole = all(_whole(value.get(k)) for k in ("steps", "nfe"))
    fid = value.get("fid")
    finite = isinstance(fid, int | float) and not isinstance(fid, bool) and math.isfinite(fid)
    if value.get("sampler") not in SAMPLERS or value.get("spacing") not in SPACINGS or not whole:
        raise ValueError(f'metadata "sampling": preset {name!r} needs a sampler, a spacing, steps')
    if not finite:
        raise ValueError(f'metadata "sampling": preset {name!r} needs a finite fid')
    return Preset(value["sampler"], value["steps"], value["spacing"], value["nfe"], float(fid))


def _whole(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def choose_settings(
    presets: Presets | None,
    preset: str | None = None,
    sampler: str | None = None,
    steps: int | None = None,
    eta: float = 0.0,
    spacing: str | None = None,
) -> SamplerSettings:
    """The settings a user asked for (None: not given): a named preset of the model's, or a
    sampler, steps, eta and spacing with the model's default preset filling in what is
    missing (without a sampler: the preset's sampler, and its steps and spacing unless those
    are given; eta only with the sampler ddim named). No presets, or a sampler given:
    SamplerSettings' own defaults. OptionError (naming the field) for a preset beside
    explicit settings or one the model lacks."""
    if preset is None:
        if eta and sampler is None:
            raise OptionError("eta applies to the ddim sampler only: give sampler ddim", "eta")
        if sampler is not None or presets is None:
            return SamplerSettings(sampler or DEFAULT_SAMPLER, steps, eta, spacing)  # type: ignore[arg-type]
        base = presets.settings()
        steps = base.steps if steps is None else steps
        return SamplerSettings(base.sampler, steps, eta, spacing or base.spacing)  # type: ignore[arg-type]
    asked = (("sampler", sampler), ("steps", steps), ("spacing", spacing))
    given = [k for k, v in asked if v is not None]
    if given or eta:
        drop = (given or ["eta"])[0]
        raise OptionError(f"a preset sets the sampler, steps and spacing: drop {drop}", drop)
    if presets is None:
        raise OptionError(
            "this model has no sampling presets (no FID-NFE curve measured by bench/nfe.py "
            "--record); give a sampler and steps",
            field="preset",
        )
    return presets.settings(preset)


def pick_presets(points: list[dict[str, Any]], measured: str = "") -> Presets:
    """The presets a measured curve gives: points of {sampler, spacing, steps, nfe, fid}.

    best: the lowest FID; fast: the lowest FID at the fewest NFE measured; balanced: the
    fewest NFE whose FID is within BALANCED_SLACK of the best's (ties: the lower FID).
    """
    if not points:
        raise ValueError("no measured points to pick presets from")
    chosen = {
        "best": min(points, key=lambda p: (p["fid"], p["nfe"])),
        "fast": min(points, key=lambda p: (p["nfe"], p["fid"])),
        "balanced": min(
            (p for p in points if p["fid"] <= BALANCED_SLACK * min(q["fid"] for q in points)),
            key=lambda p: (p["nfe"], p["fid"]),
        ),
    }
    named = {name: _preset(name, chosen[name]) for name in PRESET_NAMES}
    return Presets(named, DEFAULT_PRESET, measured)
