"""The model catalog: which models the model roots hold and whether each one can be served.

A root's children are models: a checkpoint directory (config.json + safetensors), a legacy
`.pt`/`.pth` state dict of the pb2025 network, with an optional sidecar `NAME.json`
(`{"image_size": 84, "T": 500, "beta_start": 1e-4, "beta_end": 0.02}`; defaults 64 px, T=1000),
or a cascade `NAME.cascade.yaml` listing a base checkpoint and super-resolution stages:

    stages:
      - path: base-16                 # checkpoint directories, relative to this file
      - path: sr-16-32
        sampler: dpmpp2m              # optional per stage: sampler, steps, eta, spacing, aug_level
        steps: 20                     # (a request's sampler, steps and eta drive the base)
    fid: 12.3                         # optional: shown by GET /api/models

Every model is validated before use (config, tensor names, shapes, dtypes, finite values);
one that fails is listed with the reason, never loaded.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml

from ..bundled import rank
from ..checkpoint import (
    CONFIG_FILE,
    EMA_FILE,
    LEGACY_SUFFIXES,
    WEIGHTS_FILE,
    CheckpointError,
    check_standalone,
    file_version,
    inspect_checkpoint,
    load_legacy,
    read_small_file,
)
from ..diffusion import NoiseSchedule, SamplerSettings
from ..errors import OptionError, UserError
from ..models import UNet, UNetConfig
from ..models.batching import default_micro_batch
from ..models.conditioning import (
    Conditioning,
    TextConditioning,
    conditioning_from_dict,
    default_guidance,
)
from ..sampling.cascade import check_aug_level, check_chain
from ..sampling.monitor import check_output_stats
from ..sampling.presets import Presets
from ..text_encoder import check_installed

LEGACY_DEFAULTS = {"image_size": 64, "T": 1000, "beta_start": 1e-4, "beta_end": 0.02}
CASCADE_SUFFIX = ".cascade.yaml"
RESERVED_NAMES = ("reload",)  # /api/models/reload: not a model's name
STAGE_OPTIONS = ("sampler", "steps", "eta", "spacing", "aug_level")


@dataclass(frozen=True)
class ModelEntry:
    """One model found in a root: what it is, whether it is servable, and why not."""

    name: str
    path: Path
    kind: str  # "checkpoint", "legacy", "cascade" or "unrecognized" (listed with the reason)
    signature: tuple = ()  # (file, size, mtime) of every file it is read from
    valid: bool = False
    reason: str | None = None
    version: str | None = None
    image_size: int | None = None
    channels: int | None = None
    T: int | None = None
    schedule: dict[str, Any] | None = None
    prediction: str | None = None
    parameters: int | None = None
    nbytes: int = 0  # memory its weights take once loaded
    activation_bytes: int = 0  # about the memory of one image in a forward pass (largest stage)
    fid: float | None = None
    # from the metadata, for monitoring: the FID limit, the store quality checks compare with
    # (and its split and features), the outputs' statistics recorded by `picodiff train`
    fid_threshold: float | None = None
    reference: str | None = None
    reference_split: str = "val"
    features: str = "inception"
    output_stats: dict[str, Any] | None = None
    conditioning: Conditioning | None = None  # a conditional model's labels or encoder
    presets: Presets | None = None  # the sampler settings its measured FID-NFE curve picked
    guidance: float | None = None  # a conditional model's default guidance w
    licences: tuple[dict[str, str], ...] = ()  # its training images' {name, license, attribution}
    warnings: tuple[str, ...] = ()
    load_options: dict[str, Any] = field(default_factory=dict)
    stages: tuple[dict[str, Any], ...] = ()  # a cascade's stages, as GET /api/models shows them

    @property
    def key(self) -> tuple[str, str]:
        """(name, version): what monitoring keeps figures by (and labels its gauges with)."""
        return self.name, self.version or ""

    @property
    def file_size(self) -> int:
        return sum(size for _, size, _ in self.signature)

    def to_json(self) -> dict[str, Any]:
        """Everything an API replica needs of this entry (not how to load it), as JSON."""
        fields = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        fields.pop("load_options")
        conditioning = self.conditioning and self.conditioning.to_dict()
        presets = self.presets and self.presets.to_metadata()
        return {**fields, "path": str(self.path), "conditioning": conditioning, "presets": presets}

    @classmethod
    def from_json(cls, fields: dict[str, Any]) -> ModelEntry:
        """The entry `to_json` describes (as a worker published it)."""
        conditioning = fields.get("conditioning")
        return cls(
            **{
                **fields,
                "path": Path(fields["path"]),
                "signature": tuple(tuple(s) for s in fields.get("signature", ())),
                "warnings": tuple(fields.get("warnings", ())),
                "stages": tuple(fields.get("stages", ())),
                "licences": tuple(fields.get("licences", ())),
                "conditioning": conditioning and conditioning_from_dict(conditioning),
                "presets": Presets.from_record(fields.get("presets")),
            }
        )

    def describe(self) -> dict[str, Any]:
        """The JSON that GET /api/models shows for this model."""
        schedule = self.schedule or {}
        return {
            "name": self.name,
            "version": self.version,
            "valid": self.valid,
            "reason": self.reason,
            "kind": self.kind,
            "resolution": self.image_size,
            "channels": self.channels,
            "T": self.T,
            "schedule": schedule.get("name"),
            "schedule_config": self.schedule,
            "prediction": self.prediction,
            "parameters": self.parameters,
            "file_size": self.file_size,
            "fid": self.fid,
            "fid_threshold": self.fid_threshold,
            "conditioning": self.conditioning and self.conditioning.to_dict(),
            "guidance": self.guidance,
            "licences": list(self.licences),
            "sampling": self.presets and self.presets.to_metadata(),
            "warnings": list(self.warnings),
            "stages": list(self.stages),
        }


def discover(roots: tuple[Path, ...]) -> dict[str, Path]:
    """name -> path of every model candidate (in a root: the featured bundled names first,
    then by name): folders, .pt/.pth files, cascade files, and files that look like a model
    but are not one picodiff serves (listed with the reason); a name in an earlier root hides
    later ones."""
    found: dict[str, Path] = {}
    for root in roots:
        if not root.is_dir():
            continue
        for child in sorted(root.iterdir(), key=lambda c: rank(c.name)):
            if child.name.startswith(".") or child.name == "__pycache__":
                continue
            cascade = child.name.endswith(CASCADE_SUFFIX)
            name = child.name.removesuffix(CASCADE_SUFFIX) if cascade else child.stem
            model_like = cascade or child.suffix in (*LEGACY_SUFFIXES, *UNRECOGNIZED)
            if (model_like or child.is_dir()) and name not in found:
                found[child.name if child.is_dir() else name] = child
    return found


# files that look like a model but are not a kind picodiff serves, and what to do instead
SERVED = (
    "picodiff serves checkpoint folders (config.json + weights.safetensors, as picodiff train "
    "writes them), .pt/.pth state dicts of the pb2025 network and NAME.cascade.yaml files"
)
UNRECOGNIZED = {
    ".safetensors": "a bare weights file: put it in a folder beside its config.json",
    ".yaml": "a YAML file that is not a cascade: name cascade files NAME.cascade.yaml",
    ".yml": "a YAML file that is not a cascade: name cascade files NAME.cascade.yaml",
    ".ckpt": "a format picodiff does not read",
    ".bin": "a format picodiff does not read",
    ".onnx": "a format picodiff does not read",
    ".gguf": "a format picodiff does not read",
}


def signature(path: Path) -> tuple:
    """(file name, size, mtime_ns) of each file a model is read from: changes mean reload."""
    if path.is_dir():
        files = [path / n for n in (CONFIG_FILE, WEIGHTS_FILE, EMA_FILE)]
    elif path.name.endswith(CASCADE_SUFFIX):
        files = [path] + [s / n for s in _stage_dirs(path) for n in (CONFIG_FILE, EMA_FILE)]
    else:
        files = [path, path.with_suffix(".json")]
    stats = []
    for file in files:
        try:
            st = file.stat()
        except OSError:
            continue
        stats.append((file.name, st.st_size, st.st_mtime_ns))
    return tuple(stats)


def inspect(name: str, path: Path, memory_budget: int | None = None) -> ModelEntry:
    """Validate one model without keeping its weights; problems become `reason`. With a
    `memory_budget` (bytes), a model whose weights or one network pass would not fit in it is
    invalid too, and a file larger than it is not even read."""
    kind = model_kind(path)
    entry = ModelEntry(name, path, kind, signature(path))
    largest = max((size for _, size, _ in entry.signature), default=0)
    if memory_budget is not None and largest > memory_budget:
        budget = _mib(memory_budget)
        reason = f"a file of {_mib(largest)} but the memory budget is {budget} (raise --memory-mb)"
        return replace(entry, reason=f"{reason}; not read")
    entry = _validated(entry, kind, path)
    return _within(entry, memory_budget) if entry.valid and memory_budget else entry


def _within(entry: ModelEntry, budget: int) -> ModelEntry:
    """The entry, or invalid with the reason if its weights or one network pass (4 images, as
    the CPU micro-batch) would not fit in `budget` bytes."""
    rows = default_micro_batch("cpu")
    if entry.nbytes > budget:
        reason = f"needs {_mib(entry.nbytes)} but the memory budget is {_mib(budget)}"
    elif rows * entry.activation_bytes > budget:
        reason = (
            f"one network pass ({rows} images at {entry.image_size} px) needs about "
            f"{_mib(rows * entry.activation_bytes)}, over the memory budget of {_mib(budget)}"
        )
    else:
        return entry
    return replace(entry, valid=False, reason=f"{reason} (raise --memory-mb)")


def _mib(nbytes: int) -> str:
    return f"{nbytes / 2**20:,.1f} MiB"


def _validated(entry: ModelEntry, kind: str, path: Path) -> ModelEntry:
    """The entry with its fields read and checked, or invalid with the reason."""
    name = entry.name
    if kind == "unrecognized":
        return replace(entry, reason=f"{UNRECOGNIZED[path.suffix]}; {SERVED}")
    if name in RESERVED_NAMES:
        return replace(entry, reason=f"the name {name!r} is the API's own; rename it")
    inspector = {"checkpoint": _inspect_checkpoint, "legacy": _inspect_legacy}.get(kind)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            fields = inspector(path) if inspector else _inspect_cascade(path)
        notes = tuple(dict.fromkeys(str(w.message) for w in caught))
        return replace(entry, valid=True, warnings=notes, **fields)
    except CheckpointError as err:
        return replace(entry, reason=clean_reason(str(err), path))
    except MemoryError:
        return replace(entry, reason="too large to validate within this machine's memory")
    except Exception as err:  # a model file must never take the server down
        detail = "too large to validate" if "alloc" in str(err) else f"{type(err).__name__}: {err}"
        return replace(entry, reason=clean_reason(f"unreadable ({detail})", path))


def model_kind(path: Path) -> str:
    if path.is_dir():
        return "checkpoint"
    if path.name.endswith(CASCADE_SUFFIX):
        return "cascade"
    return "legacy" if path.suffix in LEGACY_SUFFIXES else "unrecognized"


def _inspect_checkpoint(path: Path) -> dict[str, Any]:
    return _checkpoint_fields(path)[0]


def _checkpoint_fields(path: Path, superres_ok: bool = False) -> tuple[dict, UNetConfig]:
    """The entry fields of a checkpoint directory and its network config."""
    spec, model = inspect_checkpoint(path)
    if not superres_ok:
        check_standalone(spec.model, path)
    fields = _describe_model(
        model, spec.schedule, spec.prediction, spec.metadata, spec.weights_file()
    )
    try:
        presets = Presets.from_metadata(spec.metadata)
        guidance = default_guidance(spec.metadata) if spec.conditioning else None
        if isinstance(spec.conditioning, TextConditioning):
            check_installed(spec.conditioning.encoder)
    except (ValueError, UserError) as err:
        raise CheckpointError(f"{path}: {err}") from None
    described = {"conditioning": spec.conditioning, "presets": presets, "guidance": guidance}
    return {**fields, **described}, spec.model


def _inspect_cascade(path: Path) -> dict[str, Any]:
    """Every stage validated as a checkpoint, then the chain of resolutions checked."""
    spec = read_cascade(path)
    stages, configs = [], []
    for k, stage in enumerate(spec["stages"]):
        try:
            fields, config = _checkpoint_fields(stage["path"], superres_ok=k > 0)
            stage_settings(stage).resolve(fields["T"])
            check_aug_level(stage.get("aug_level"))
        except (CheckpointError, OptionError) as err:
            raise CheckpointError(f"stage {k + 1} ({stage['path'].name}): {err}") from None
        stages.append(fields)
        configs.append(config)
    try:
        check_chain([(s["path"].name, c) for s, c in zip(spec["stages"], configs)])
    except UserError as err:
        raise CheckpointError(f"{path}: {err}") from None
    base, last = stages[0], stages[-1]
    return {
        "version": str(spec.get("version") or file_version(path)),
        "image_size": last["image_size"],
        "channels": last["channels"],
        "T": base["T"],
        "schedule": base["schedule"],
        "prediction": base["prediction"],
        "parameters": sum(d["parameters"] for d in stages),
        "nbytes": sum(d["nbytes"] for d in stages),
        "activation_bytes": max(d["activation_bytes"] for d in stages),
        "fid": _finite_number(spec.get("fid")),
        "licences": tuple({lic["name"]: lic for s in stages for lic in s["licences"]}.values()),
        "stages": tuple(map(_describe_stage, spec["stages"], stages, configs)),
        "load_options": {"stages": spec["stages"]},
    }


def _describe_stage(stage: dict, fields: dict, config: UNetConfig) -> dict[str, Any]:
    return {
        "path": stage["path"].name,
        "resolution": config.image_size,
        "low_res": config.low_res_size or None,
        "parameters": fields["parameters"],
        "T": fields["T"],
        "schedule": fields["schedule"].get("name"),
        **{k: stage[k] for k in STAGE_OPTIONS if k in stage},
    }


def read_cascade(path: Path) -> dict[str, Any]:
    """A cascade file's contents, stage paths resolved against the file's folder."""
    try:
        spec = yaml.safe_load(read_small_file(path))
    except yaml.YAMLError as err:
        raise CheckpointError(f"{path}: unreadable cascade file ({err})") from None
    stages = spec.get("stages") if isinstance(spec, dict) else None
    if (
        not isinstance(stages, list)
        or not stages
        or not all(isinstance(s, dict) and isinstance(s.get("path"), str) for s in stages)
    ):
        raise CheckpointError(f"{path}: expected 'stages:', a list of {{path: DIR, ...}}")
    for stage in stages:
        unknown = sorted(set(stage) - {"path", *STAGE_OPTIONS})
        if unknown:
            raise CheckpointError(f"{path}: unknown stage option(s) {unknown}")
        stage["path"] = (path.parent / stage["path"]).resolve()
    return spec


def _stage_dirs(path: Path) -> list[Path]:
    try:
        return [s["path"] for s in read_cascade(path)["stages"]]
    except CheckpointError:
        return []


def _inspect_legacy(path: Path) -> dict[str, Any]:
    options = _legacy_options(path)
    schedule_config = {k: options[k] for k in ("T", "beta_start", "beta_end")}
    schedule = NoiseSchedule.linear(**schedule_config)
    ckpt = load_legacy(path, image_size=options["image_size"], schedule=schedule)
    fields = _describe_model(ckpt.model, schedule, "eps", {}, path)
    fields["load_options"] = {"image_size": options["image_size"], "schedule": schedule.config}
    return fields


def _describe_model(model: UNet, schedule, prediction, metadata, weights) -> dict[str, Any]:
    state = model.state_dict()
    return {
        "version": str(metadata.get("version") or file_version(weights)),
        "image_size": model.config.image_size,
        "channels": model.config.image_channels,
        "T": schedule.T,
        "schedule": schedule.config,
        "prediction": prediction,
        "parameters": model.num_parameters(),
        "nbytes": sum(v.numel() * v.element_size() for v in state.values()),
        "activation_bytes": model.config.activation_bytes(),
        "fid": _finite_number(metadata.get("fid")),
        "licences": _licences(metadata.get("licences")),
        **_monitoring_fields(metadata, weights.parent),
    }


def _monitoring_fields(metadata: dict[str, Any], folder: Path) -> dict[str, Any]:
    """The metadata fields of quality checks and output monitoring (malformed ones: absent)."""
    reference = metadata.get("reference")
    fields: dict[str, Any] = {
        "fid_threshold": _finite_number(metadata.get("fid_threshold")),
        "reference": str(folder / reference) if isinstance(reference, str) else None,
        "output_stats": check_output_stats(metadata.get("output_stats")),
    }
    for key in ("reference_split", "features"):
        if isinstance(metadata.get(key), str):
            fields[key] = metadata[key]
    return fields


def stage_settings(stage: dict[str, Any]) -> SamplerSettings:
    """The sampler settings a cascade file gives one stage (validated by SamplerSettings)."""
    keys = ("sampler", "steps", "eta", "spacing")
    return SamplerSettings(**{k: stage[k] for k in keys if k in stage})


def _legacy_options(path: Path) -> dict[str, Any]:
    sidecar = path.with_suffix(".json")
    if not sidecar.exists():
        return dict(LEGACY_DEFAULTS)
    try:
        options = json.loads(read_small_file(sidecar))
    except json.JSONDecodeError as err:
        raise CheckpointError(f"{sidecar}: invalid JSON ({err})") from None
    unknown = sorted(set(options) - set(LEGACY_DEFAULTS)) if isinstance(options, dict) else None
    if unknown is None or unknown:
        raise CheckpointError(
            f"{sidecar}: expected an object with keys from {sorted(LEGACY_DEFAULTS)}"
            + (f", got unknown {unknown}" if unknown else "")
        )
    return {**LEGACY_DEFAULTS, **options}


def _licences(value: Any) -> tuple[dict[str, str], ...]:
    """The metadata's image licences, each {name, license, attribution} (malformed: none)."""
    keys = ("name", "license", "attribution")
    if not isinstance(value, list):
        return ()
    ok = [v for v in value if isinstance(v, dict) and all(isinstance(v.get(k), str) for k in keys)]
    return tuple({k: v[k] for k in keys} for v in ok)


def _finite_number(value: Any) -> float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def clean_reason(message: str, path: Path) -> str:
    """Reasons name files relative to the model root, not the server's file system."""
    for prefix in (f"{path}: ", f"{path}{os.sep}", f"{path.parent}{os.sep}"):
        message = message.replace(prefix, "")
    return message
