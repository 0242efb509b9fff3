"""TrainConfig: every training option in one validated dataclass, with presets.

Resolution order: preset < config file (YAML) < --set key=value < --max-steps / --epochs /
--max-minutes.
The resolved config is written to RUN_DIR/config.yaml and is itself a valid config file.
"""

from __future__ import annotations

import dataclasses
import difflib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, get_args, get_type_hints

import yaml

from ..choices import check_fields
from ..deprecation import warn_renamed
from ..diffusion import NoiseSchedule, Prediction, Sampler, SamplerSettings, check_samplable
from ..diffusion.schedules import ScheduleName
from ..diffusion.superres import Conditioning
from ..errors import UserError
from ..evaluation.inception import Protocol
from ..models import UNetConfig
from ..models.config import RENAMED as RENAMED_MODELS
from ..text_encoder import DEFAULT_TEXT_ENCODER, DEFAULT_TEXT_TOKENS

if TYPE_CHECKING:
    from ..data import ImageStore

Optimizer = Literal["adam", "adamw"]
Precision = Literal["fp32", "bf16", "fp16"]
LrSchedule = Literal["constant", "cosine"]
Task = Literal["generate", "superres"]
UNetPreset = Literal["pb2025", "default", "small", "tiny"]
BestBy = Literal["val_loss", "fid"]
Condition = Literal["none", "class", "text"]


@dataclass
class TrainConfig:
    """Options of `picodiff train` (see the README's training section for each one)."""

    # task: "generate" (a base model) or "superres" (a cascade's super-resolution stage)
    task: Task = "generate"
    low_res: int | None = None  # superres: the input resolution (the store's is the output)
    aug_max: float = 0.25  # superres: augmentation levels s ~ U{0 .. aug_max * T}
    sample_aug: float = 0.05  # superres: the level used when sampling (and a cascade's default)
    # data
    data: str = ""
    hflip: bool = False
    # conditioning: "class" learns p(x | label) from a field of the store's index (None: the
    # first of class, category, label), with the null class for a share cond_drop of images;
    # "text" learns p(x | text) from text fields of the index (comma-separated; None: the first
    # of text, caption, name, summarized_text), encoded by the frozen sentence encoder
    # text_encoder (a local sentence-transformers folder or the default, offline), with the
    # empty text for a share cond_drop
    condition: Condition = "none"
    label_field: str | None = None
    text_field: str | None = None
    text_encoder: str = DEFAULT_TEXT_ENCODER
    text_tokens: int = DEFAULT_TEXT_TOKENS
    cond_drop: float = 0.1
    sample_guidance: float = 3.0  # conditional models: the guidance of the sample grids
    # network: a UNet preset plus field overrides (e.g. {"dropout": 0.1})
    model: UNetPreset = "default"
    unet: dict[str, Any] = field(default_factory=dict)
    image_size: int | None = None  # None: the store's resolution
    # diffusion
    schedule: ScheduleName = "linear"
    T: int = 1000
    schedule_args: dict[str, Any] = field(default_factory=dict)
    zero_terminal_snr: bool = False
    prediction: Prediction = "eps"
    min_snr_gamma: float | None = None
    # optimisation
    optimizer: Optimizer = "adam"
    lr: float = 1e-4
    weight_decay: float = 0.0
    warmup_steps: int = 0
    lr_schedule: LrSchedule = "constant"
    grad_clip: float | None = 1.0
    batch_size: int = 16  # global: summed over processes and accumulation steps
    grad_accum: int = 1
    max_steps: int | None = None
    epochs: int | None = None
    max_minutes: float | None = None  # a budget of training time (resumed runs included)
    # start from another model's (EMA) weights, with a fresh optimizer: a checkpoint, run
    # directory or bundled model name whose network equals this run's (None: random weights)
    init: str | None = None
    precision: Precision = "fp32"
    gradient_checkpointing: bool = False
    compile: bool = False
    ema_decay: float = 0.999
    ema_warmup: bool = True
    # evaluation, checkpoints, logging
    val_every: int = 0  # steps between validations; 0 = once per epoch
    val_size: int = 256
    patience: int | None = None  # validations without improvement before stopping
    min_delta: float = 0.0  # an improvement must lower the validation loss by more than this
    checkpoint_every: int = 0  # steps; 0 = at each validation
    checkpoint_every_minutes: float = 0.0  # also every M minutes of training time; 0 = never
    keep_last: int = 3
    sample_every: int = 0  # steps; 0 = at each checkpoint
    sample_n: int = 16
    sample_method: Sampler = "dpmpp2m"
    sample_steps: int | None = None  # None: the sampler's default (SamplerSettings)
    # FID of the EMA weights against a split of the store, every fid_every steps (0 = never)
    fid_every: int = 0
    fid_n: int = 1000
    fid_features: str = "inception"  # inception, digits or MODULE:CALLABLE
    fid_protocol: Protocol | None = None  # inception's resize to 299 (None: clean)
    fid_split: str = "val"
    best_by: BestBy = "val_loss"  # what `best/` and early stopping (patience) judge
    log_every: int = 10
    tensorboard: bool = False
    seed: int = 0
    device: str = "auto"

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def validate(self) -> TrainConfig:
        """Check every option (before any file is written); UserError naming the fix."""
        check_fields(self)
        positive = ("T", "batch_size", "grad_accum", "val_size", "sample_n", "log_every", "fid_n")
        for name in positive:
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 1:
                raise UserError(f"{name} must be a positive integer, got {getattr(self, name)!r}")
        if self.max_steps is None and self.epochs is None and self.max_minutes is None:
            raise UserError("say how long to train: --max-steps N, --epochs E or --max-minutes M")
        if self.max_minutes is not None and self.max_minutes <= 0:
            raise UserError(f"max_minutes must be > 0, got {self.max_minutes}")
        if self.checkpoint_every_minutes < 0:
            raise UserError("checkpoint_every_minutes must be >= 0 (0: by steps only)")
        if self.lr_schedule == "cosine" and self.max_steps is None and self.epochs is None:
            raise UserError(
                "lr_schedule cosine decays over a known number of steps: give --max-steps or "
                "--epochs (a --max-minutes budget alone does not say how many steps it allows)"
            )
        if self.lr <= 0 or not 0 <= self.ema_decay < 1:
            raise UserError("lr must be > 0 and ema_decay in [0, 1)")
        if (self.task == "superres") != (self.low_res is not None):
            raise UserError(
                "task superres needs low_res (e.g. --low-res 32), and only it takes one"
            )
        if not 0 <= self.cond_drop <= 1 or self.sample_guidance < 0:
            raise UserError("need 0 <= cond_drop <= 1 and sample_guidance >= 0")
        if not 1 <= self.text_tokens <= 256:
            raise UserError(f"text_tokens must be in 1..256, got {self.text_tokens}")
        if self.condition != "none" and self.task == "superres":
            raise UserError("conditioning applies to base models (task generate), not superres")
        if not 0 <= self.sample_aug <= self.aug_max <= 1:
            raise UserError("need 0 <= sample_aug <= aug_max <= 1 (fractions of T)")
        if not isinstance(self.fid_every, int) or self.fid_every < 0:
            raise UserError(f"fid_every must be a whole number >= 0, got {self.fid_every!r}")
        if self.best_by == "fid" and not self.fid_every:
            raise UserError("best_by fid needs fid_every > 0 (steps between FID measurements)")
        if self.batch_size % self.grad_accum:
            raise UserError(
                f"batch_size {self.batch_size} must be divisible by grad_accum {self.grad_accum}"
            )
        with warnings.catch_warnings():  # the trainer warns about the schedule, once
            warnings.simplefilter("ignore")
            schedule = build_schedule(self)
        sample = SamplerSettings(self.sample_method, self.sample_steps)
        sample.resolve(schedule.T)  # sample_steps within T
        return self


PRESETS: dict[str, dict[str, Any]] = yaml.safe_load(
    (Path(__file__).parent / "presets.yaml").read_text()
)
RENAMED_PRESETS = {f"seed-{x}": f"pb2025-{x}" for x in "abcde"}  # accepted for one release


def field_names() -> list[str]:
    return [f.name for f in dataclasses.fields(TrainConfig)]


def resolve_config(
    preset: str | None = None,
    config_file: str | Path | None = None,
    overrides: list[str] | tuple[str, ...] = (),
    **direct: Any,
) -> TrainConfig:
    """Merge preset, YAML file, `key=value` overrides and direct values into a TrainConfig."""
    values: dict[str, Any] = {}
    if preset in RENAMED_PRESETS:
        warn_renamed("preset", preset, RENAMED_PRESETS[preset])
        preset = RENAMED_PRESETS[preset]
    if preset is not None:
        if preset not in PRESETS:
            raise UserError(f"unknown preset {preset!r}; choose one of {sorted(PRESETS)}")
        values.update(PRESETS[preset])
    if config_file is not None:
        values = _merge(values, _read_yaml(Path(config_file)))
    for item in overrides:
        key, sep, raw = item.partition("=")
        if not sep:
            raise UserError(f"--set expects key=value, got {item!r}")
        values = _merge(values, _nest(key.strip(), yaml.safe_load(raw)))
    values = _merge(values, {k: v for k, v in direct.items() if v is not None})
    if values.get("model") in RENAMED_MODELS:  # e.g. a config file of an older release
        warn_renamed("UNet preset", values["model"], RENAMED_MODELS[values["model"]])
        values["model"] = RENAMED_MODELS[values["model"]]
    _check_keys(values)
    types = get_type_hints(TrainConfig)
    return TrainConfig(**{k: _coerce(k, v, types[k]) for k, v in values.items()}).validate()


def save_config(config: TrainConfig, path: Path) -> None:
    from ..atomic import write_text

    write_text(path, yaml.safe_dump(config.to_dict(), sort_keys=False))


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except FileNotFoundError:
        raise UserError(f"config file {path} does not exist") from None
    except yaml.YAMLError as err:
        raise UserError(f"config file {path} is not valid YAML: {err}") from None
    if not isinstance(data, dict):
        raise UserError(f"config file {path} must hold a mapping of option: value")
    return data


def _nest(key: str, value: Any) -> dict[str, Any]:
    head, _, rest = key.partition(".")
    return {head: _nest(rest, value) if rest else value}


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _check_keys(values: dict[str, Any]) -> None:
    known = field_names()
    for key in values:
        if key not in known:
            close = difflib.get_close_matches(key, known, n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise UserError(f"unknown option {key!r}{hint} (options: {', '.join(known)})")


def _coerce(name: str, value: Any, kind: Any) -> Any:
    """Accept YAML's ints for floats and reject plainly wrong types with a clear message."""
    text = str(kind)
    if value is None:
        if type(None) not in get_args(kind):
            raise UserError(f"{name} cannot be null")
        return None
    if "float" in text and not isinstance(value, bool) and isinstance(value, int | str):
        try:  # YAML reads 1e-4 (no dot) as a string
            return float(value)
        except ValueError:
            raise UserError(f"{name} must be a number, got {value!r}") from None
    expected = {"int": int, "bool": bool, "str": str, "float": float, "dict": dict}
    for word, py_type in expected.items():
        wrong = not isinstance(value, py_type) or (py_type is int and isinstance(value, bool))
        if text.startswith(word) and wrong:
            raise UserError(f"{name} must be {word}, got {value!r}")
    return value


def build_unet_config(
    cfg: TrainConfig, store: ImageStore | None, num_classes: int = 0, text_dim: int = 0
) -> UNetConfig:
    """The network for `cfg`, at the store's resolution and channels (or the config's alone),
    with `num_classes` class embeddings for a class-conditional one, text attention of
    `text_dim` for a text-conditional one."""
    overrides = dict(cfg.unet)
    if num_classes:
        overrides["num_classes"] = num_classes
    if text_dim:
        overrides |= {"text_dim": text_dim, "text_tokens": cfg.text_tokens}
    channels = overrides.pop("image_channels", store.channels if store else 3)
    size = store.size if store else cfg.image_size
    if store and cfg.image_size is not None and cfg.image_size != store.size:
        raise UserError(
            f"this config trains at {cfg.image_size} px but the store {store.path} holds "
            f"{store.size} px images: prepare one with --size {cfg.image_size} or pass "
            f"--set image_size={store.size}"
        )
    if store and channels != store.channels:
        raise UserError(f"unet.image_channels differs from the store's {store.channels} channels")
    if size is None:
        raise UserError("give a dataset (--data) or an image_size (e.g. --set image_size=64)")
    if cfg.task == "superres":
        overrides["low_res_size"] = cfg.low_res
    try:
        return UNetConfig.preset(
            cfg.model,
            image_channels=channels,
            image_size=size,
            gradient_checkpointing=cfg.gradient_checkpointing,
            **overrides,
        )
    except (TypeError, ValueError) as err:
        raise UserError(f"invalid network: {err}") from None


def build_schedule(cfg: TrainConfig) -> NoiseSchedule:
    """The noise schedule of `cfg`, refused if its prediction target cannot sample it."""
    spec = {"name": cfg.schedule, "T": cfg.T, **cfg.schedule_args}
    try:
        schedule = NoiseSchedule.from_config({**spec, "zero_terminal_snr": cfg.zero_terminal_snr})
    except (TypeError, ValueError) as err:
        raise UserError(f"invalid schedule {spec}: {err}") from None
    check_samplable(schedule, cfg.prediction)
    return schedule


def make_conditioning(cfg: TrainConfig, schedule: NoiseSchedule) -> Conditioning | None:
    """The super-resolution conditioning of a superres run (None for a base model)."""
    if cfg.task != "superres":
        return None
    return Conditioning(schedule, cfg.low_res, round(cfg.aug_max * (schedule.T - 1)))  # type: ignore
