"""Request validation: one table of fields drives both the checks and the OpenAPI schema.

Every mistake becomes an ApiError naming the field and the reason (422), never a traceback.
"""

from __future__ import annotations

import json
import math
import secrets
from dataclasses import dataclass, replace
from typing import Any

from ..diffusion import DEFAULT_SAMPLER, DEFAULT_STEPS, SAMPLERS, SPACINGS, SamplerSettings
from ..errors import OptionError
from ..models.conditioning import MAX_PROMPT, clean_prompt
from ..sampling.presets import PRESET_NAMES, choose_settings
from .catalog import ModelEntry
from .config import ServeConfig

MAX_SEED = 2**63 - 1
MAX_GUIDANCE = 20.0
REQUIRED = object()


class ApiError(Exception):
    """An HTTP error answered as {"error": {"status", "message", "field"?}}."""

    def __init__(self, status: int, message: str, field: str | None = None, headers=None):
        super().__init__(message)
        self.status, self.message, self.field = status, message, field
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        error = {"status": self.status, "message": self.message}
        return {"error": {**error, "field": self.field} if self.field else error}


@dataclass(frozen=True)
class Field:
    """One JSON body field: its type, default and bounds."""

    name: str
    kind: type | tuple[type, ...]  # str, int or float, or (str, int): either
    description: str
    default: Any = REQUIRED
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] | None = None

    def schema(self) -> dict[str, Any]:
        """JSON Schema of this field (OpenAPI 3.1)."""
        names = {str: "string", int: "integer", float: "number"}
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        kind = [names[k] for k in kinds] if len(kinds) > 1 else names[kinds[0]]
        schema: dict[str, Any] = {"type": kind, "description": self.description}
        bounds = {"minimum": self.minimum, "maximum": self.maximum}
        if str in kinds:  # a string's bounds are its length (an integer alternative: >= 0)
            bounds = {"minLength": self.minimum, "maxLength": self.maximum}
            bounds.update({"minimum": 0} if int in kinds else {})
        schema.update({k: v for k, v in bounds.items() if v is not None})
        if self.choices:
            schema["enum"] = list(self.choices)
        if self.default is not REQUIRED and self.default is not None:
            schema["default"] = self.default
        return schema

    def check(self, value: Any) -> Any:
        """The value if it fits, else ApiError 422 saying why."""
        if isinstance(self.kind, tuple):  # a string or an integer: checked as what it is
            integral = isinstance(value, float) and value.is_integer()  # 832.0 is an integer
            kind = int if integral and int in self.kind else type(value)
            kind = kind if kind in self.kind else None
            if kind is None:
                raise self.error(f"must be a string or an integer, got {json.dumps(value)[:60]}")
            bounds = (self.minimum, self.maximum) if kind is str else (0, None)
            return replace(self, kind=kind, minimum=bounds[0], maximum=bounds[1]).check(value)
        number = self.kind in (int, float)
        if isinstance(value, bool) or not isinstance(value, (int, float) if number else str):
            raise self.error(f"must be {_kind_name(self.kind)}, got {json.dumps(value)[:60]}")
        if self.kind is int and not isinstance(value, int):
            if not (math.isfinite(value) and float(value).is_integer()):
                raise self.error(f"must be an integer, got {value}")
            value = int(value)  # 867.0 is an integer in JSON (and in the OpenAPI schema)
        if self.kind is float and not math.isfinite(value):
            raise self.error("must be a finite number")
        size = len(value) if self.kind is str else value
        if self.minimum is not None and size < self.minimum:
            raise self.error(f"must be at least {self.minimum}{' characters' * (self.kind is str)}")
        if self.maximum is not None and size > self.maximum:
            raise self.error(f"must be at most {self.maximum}{' characters' * (self.kind is str)}")
        if self.choices and value not in self.choices:
            raise self.error(f"must be one of {list(self.choices)}, got {value!r}")
        return float(value) if self.kind is float else value

    def error(self, reason: str) -> ApiError:
        return ApiError(422, f"{self.name} {reason}", field=self.name)


def generate_fields(config: ServeConfig) -> tuple[Field, ...]:
    """The body of POST /api/generate, with the server's limits."""
    return (
        Field("model", str, "model name or rollout alias (GET /api/models)", REQUIRED, 1, 200),
        Field("n", int, "number of images", 1, 1, config.max_n),
        Field(
            "sampler",
            str,
            "sampling method (default: the model's default preset if it has presets, "
            f"else {DEFAULT_SAMPLER})",
            DEFAULT_SAMPLER,  # the schema's default; a request without one: for_model decides
            choices=SAMPLERS,
        ),
        Field(
            "preset",
            str,
            "a sampler, steps and spacing picked from the model's measured FID-NFE curve "
            "(GET /api/models lists each model's presets); not with sampler, steps or spacing",
            None,
            choices=PRESET_NAMES,
        ),
        Field(
            "steps",
            int,
            "denoising steps, at most the model's T (default: ddpm T, "
            f"ddim {DEFAULT_STEPS['ddim']}, the multistep solvers {DEFAULT_STEPS['dpmpp2m']})",
            None,
            1,
            config.max_steps,
        ),
        Field("eta", float, "DDIM noise scale (0 = deterministic); ddim only", 0.0, 0.0, 1.0),
        Field(
            "spacing",
            str,
            "timestep spacing (default: linear for ddpm and ddim, logsnr for the multistep "
            "solvers)",
            None,
            choices=SPACINGS,
        ),
        Field(
            "seed",
            int,
            "image i of a seed is the same alone or in a batch (default: random)",
            None,
            0,
            MAX_SEED,
        ),
        Field(
            "label",
            (str, int),
            "class-conditional models: the class to draw, a name of the model's labels "
            "(GET /api/models) or its index",
            None,
            1,
            200,
        ),
        Field(
            "prompt",
            str,
            "text-conditional models: the text to draw (GET /api/models lists each model's "
            "conditioning kind)",
            None,
            1,
            MAX_PROMPT,
        ),
        Field(
            "guidance",
            float,
            "classifier-free guidance w with a label or prompt (1: the conditional model, 0: "
            "unconditional; default: the model's, GET /api/models)",
            None,
            0.0,
            MAX_GUIDANCE,
        ),
    )


@dataclass(frozen=True)
class GenerateRequest:
    """A validated generation request; `for_model` fills the model-dependent defaults."""

    model: str
    n: int = 1
    sampler: str | None = None  # None until for_model: the model's default preset's
    preset: str | None = None
    steps: int | None = None
    eta: float = 0.0
    seed: int | None = None
    spacing: str | None = None
    label: str | int | None = None  # as asked; for_model resolves it
    prompt: str | None = None
    guidance: float | None = None
    label_index: int | None = None
    label_name: str | None = None

    @property
    def settings(self) -> SamplerSettings:
        return SamplerSettings(self.sampler, self.steps, self.eta, self.spacing)  # type: ignore[arg-type]

    def for_model(self, entry: ModelEntry, config: ServeConfig) -> GenerateRequest:
        """The sampler settings chosen (the model's default preset filling in) and resolved
        against its T (and the server's limit), a seed always set."""
        T = int(entry.T or 0)
        options = (self.preset, self.sampler, self.steps, self.eta, self.spacing)
        settings = _as_api_error(
            lambda: choose_settings(entry.presets, *options).resolve(T, config.max_steps)
        )
        seed = secrets.randbelow(2**31) if self.seed is None else self.seed
        resolved = {k: getattr(settings, k) for k in ("sampler", "steps", "spacing")}
        condition = self._condition_for(entry)
        return replace(self, model=entry.name, seed=seed, **resolved, **condition)

    def _condition_for(self, entry: ModelEntry) -> dict[str, Any]:
        """The label resolved against the model's labels, or the prompt checked, and the
        guidance it is drawn with."""
        given = "label" if self.label is not None else "prompt" if self.prompt is not None else None
        if given is None:
            if self.guidance is not None:
                raise ApiError(
                    422, "guidance needs a label or a prompt (what to guide towards)", "guidance"
                )
            return {}
        if self.label is not None and self.prompt is not None:
            raise ApiError(422, "give a label or a prompt, not both", "prompt")
        kind = entry.conditioning.kind if entry.conditioning else None
        wanted = {"label": "class", "prompt": "text"}[given]
        if kind != wanted:
            other = {"class": "; give a label", "text": "; give a prompt"}.get(kind or "", "")
            raise ApiError(
                422, f"model {entry.name!r} is not {wanted}-conditional{other}; drop {given}", given
            )
        guidance = entry.guidance if self.guidance is None else self.guidance
        if self.prompt is not None:
            try:
                return {"prompt": clean_prompt(self.prompt), "guidance": guidance}
            except ValueError as err:
                raise ApiError(422, str(err), "prompt") from None
        try:
            index = entry.conditioning.index(self.label)  # type: ignore[union-attr]
        except ValueError as err:
            raise ApiError(422, f"label: {err}", "label") from None
        name = entry.conditioning.labels[index]  # type: ignore[union-attr]
        return {"label_index": index, "label_name": name, "guidance": guidance}

    def condition(self, rows: int) -> dict[str, Any]:
        """The engine's `labels` or `prompts`, and `guidance`, for `rows` images."""
        if self.prompt is not None:
            return {"prompts": [self.prompt] * rows, "guidance": self.guidance}
        if self.label_index is None:
            return {}
        return {"labels": [self.label_index] * rows, "guidance": self.guidance}


def parse_generate(body: Any, config: ServeConfig) -> GenerateRequest:
    """Check a decoded JSON body field by field (unknown fields are refused)."""
    if not isinstance(body, dict):
        raise ApiError(422, 'the body must be a JSON object such as {"model": "NAME"}')
    fields = generate_fields(config)
    unknown = sorted(set(body) - {f.name for f in fields})
    if unknown:
        raise ApiError(422, f"unknown field {unknown[0]!r}", field=unknown[0])
    values = {}
    for f in fields:
        if f.name in body:
            values[f.name] = f.check(body[f.name])
        elif f.default is REQUIRED:
            raise f.error("is required")
    request = GenerateRequest(**values)
    if request.sampler is not None:
        _as_api_error(lambda: request.settings)  # the sampler's rules (eta: ddim only)
    return request


def _as_api_error(check):
    """check(), with a SamplerSettings OptionError answered as 422 naming its field."""
    try:
        return check()
    except OptionError as err:
        raise ApiError(422, str(err), err.field) from None


def parse_json(data: bytes) -> Any:
    """Decode a request body; invalid JSON is a 400."""
    try:
        return json.loads(data or b"null")
    except (ValueError, RecursionError) as err:
        raise ApiError(400, f"the body is not valid JSON ({err})") from None


def parse_flag(name: str, value: str | None) -> bool:
    """A boolean query parameter: true/false/1/0 (absent = false)."""
    if value is None or value.lower() in ("false", "0", ""):
        return False
    if value.lower() in ("true", "1"):
        return True
    raise ApiError(422, f"{name} must be true or false, got {value!r}", field=name)


def _kind_name(kind: type) -> str:
    return {str: "a string", int: "an integer", float: "a number"}[kind]
