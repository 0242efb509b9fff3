"""What a conditional network is conditioned on, as a checkpoint's config records it:

    "conditioning": {"kind": "class", "field": "class", "labels": ["Ankle boot", "Bag", ...]}
    "conditioning": {"kind": "text", "fields": ["name", "short_names"],
                     "encoder": "sentence-transformers/all-MiniLM-L6-v2", "encoder_key": "..."}

Label i is class index i of the network (`UNetConfig.num_classes` = len(labels)); the null
class (index num_classes) is the unconditional branch of classifier-free guidance. A text
network's unconditional branch is the empty text (`UNet.set_null_text`); `encoder_key` names
the encoder's exact weights, so a different encoder is refused rather than silently used.

A conditional model draws with its own default guidance when none is asked: the w its measured
quality picked (`bench/conditional.py --record`, `pick_guidance`), in its metadata as

    "guidance": {"default": 4.0, "recognised": 0.888, "fid": 72.95, "measured": "python ..."}

and DEFAULT_GUIDANCE without that record (`default_guidance`).
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import UserError
from ..text_encoder import TextEncoder, stacked, text_encoder
from .config import UNetConfig

DEFAULT_GUIDANCE = 3.0  # classifier-free guidance w of a model without a measured default
RECOGNISED_GOAL = 0.85  # pick_guidance: the share of samples a default w must have recognised
NAMED_GOAL = 0.40  # the same for a text model: samples whose nearest training image is named so
MAX_PROMPT = 200  # characters of a prompt


def default_guidance(metadata: dict[str, Any]) -> float:
    """The guidance w a model draws with when none is asked: its metadata's measured default,
    else DEFAULT_GUIDANCE; a malformed record is a ValueError saying what is wrong."""
    record = metadata.get("guidance")
    if record is None:
        return DEFAULT_GUIDANCE
    value = record.get("default") if isinstance(record, dict) else None
    number = isinstance(value, int | float) and not isinstance(value, bool)
    if not number or not 0 <= value < math.inf:
        raise ValueError('metadata "guidance" must be an object with a finite "default" >= 0')
    return float(value)


def pick_guidance(
    points: dict[float, dict[str, float]], goal: float = RECOGNISED_GOAL, measured: str = ""
) -> dict[str, Any]:
    """The metadata "guidance" record a measured curve gives: points w -> {recognised, fid}.

    The lowest FID among the w whose recognised share reaches `goal` (ties: the lower w);
    if none does, the w with the highest share (ties: the lower FID).
    """
    if not points:
        raise ValueError("no measured guidance to pick a default from")
    reached = [w for w, p in points.items() if p["recognised"] >= goal]
    if reached:
        w = min(reached, key=lambda w: (points[w]["fid"], w))
    else:
        w = min(points, key=lambda w: (-points[w]["recognised"], points[w]["fid"]))
    chosen = points[w]
    return {
        "default": float(w),
        "recognised": chosen["recognised"],
        "fid": chosen["fid"],
        "goal": goal,
        "measured": measured,
    }


def classes_in_turn(
    conditioning: Conditioning | None, indices: Sequence[int], guidance: float | None
) -> dict[str, Any]:
    """The sampling options that draw a class-conditional model as a whole, as its FID is
    measured and recorded: image i of class i mod the number of classes, at `guidance`
    (None: DEFAULT_GUIDANCE); none for another model (it draws as it is)."""
    if conditioning is None or conditioning.kind != "class":
        return {}
    count = len(conditioning.labels)
    w = DEFAULT_GUIDANCE if guidance is None else guidance
    return {"labels": [i % count for i in indices], "guidance": w}


def clean_prompt(prompt: str, name: str = "prompt") -> str:
    """A prompt stripped of surrounding spaces; ValueError (naming it `name`) if it is empty
    or longer than MAX_PROMPT."""
    text = prompt.strip()
    if not text:
        raise ValueError(f"{name} is empty: give the text to draw")
    if len(text) > MAX_PROMPT:
        raise ValueError(f"{name} must be at most {MAX_PROMPT} characters, got {len(text)}")
    return text


@dataclass(frozen=True)
class ClassConditioning:
    """The class names of a class-conditional network and the store field they came from."""

    labels: tuple[str, ...]
    field: str = "label"

    @property
    def kind(self) -> str:
        return "class"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": "class", "field": self.field, "labels": list(self.labels)}

    def network_inputs(self, labels: list, net, device) -> dict[str, torch.Tensor]:
        """The network's class_labels for one label index (None: the null class) per row."""
        null = len(self.labels)
        rows = [null if label is None else int(label) for label in labels]
        return {"class_labels": torch.tensor(rows, dtype=torch.long, device=device)}

    def check(self, label: Any) -> None:
        whole = isinstance(label, numbers.Integral) and not isinstance(label, bool)
        if not whole or not 0 <= label < len(self.labels):
            raise UserError(f"labels must be class indices in 0..{len(self.labels) - 1}")

    def index(self, label: str | int) -> int:
        """A class index from its name or its index (as text or a number); ValueError names
        the choices otherwise."""
        if isinstance(label, str) and label in self.labels:
            return self.labels.index(label)
        text = str(label).strip()
        if text.lstrip("-").isdigit() and 0 <= int(text) < len(self.labels):
            return int(text)
        shown = ", ".join(repr(name) for name in self.labels[:12])
        more = f", ... ({len(self.labels)} in all)" if len(self.labels) > 12 else ""
        raise ValueError(f"unknown label {label!r}; this model's labels: {shown}{more}")


@dataclass(frozen=True)
class TextConditioning:
    """The sentence encoder of a text-conditional network and the store fields it learnt."""

    encoder: str
    encoder_key: str
    tokens: int
    fields: tuple[str, ...] = ()

    @property
    def kind(self) -> str:
        return "text"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": "text",
            "encoder": self.encoder,
            "encoder_key": self.encoder_key,
            "tokens": self.tokens,
            "fields": list(self.fields),
        }

    def embedder(self) -> TextEncoder:
        """The process's encoder for this network (loaded once), checked to be its own."""
        encoder = text_encoder(self.encoder, self.tokens)
        if encoder.key != self.encoder_key:
            raise UserError(
                f"the text encoder {self.encoder} here (weights {encoder.key}) is not the one "
                f"this model was trained with ({self.encoder_key})"
            )
        return encoder

    def network_inputs(self, prompts: list, net, device) -> dict[str, torch.Tensor]:
        """The network's text inputs for one prompt (None: the empty text) per row."""
        encoder = self.embedder() if any(p is not None for p in prompts) else None
        rows = [net.null_text() if p is None else encoder.embed(p) for p in prompts]  # type: ignore[union-attr]
        return {name: value.to(device) for name, value in stacked(rows).inputs().items()}

    def check(self, prompt: Any) -> None:
        if not isinstance(prompt, str):
            raise UserError(f"prompts must be strings, got {prompt!r}")


Conditioning = ClassConditioning | TextConditioning


def read_conditioning(value: Any, config: UNetConfig) -> Conditioning | None:
    """The conditioning of a config.json (None: unconditional), checked against its network;
    ValueError says what is wrong."""
    if value is None:
        if config.num_classes or config.text_dim:
            raise ValueError("the network is conditional but no 'conditioning' is given")
        return None
    if isinstance(value, dict) and value.get("kind") == "text":
        return _read_text(value, config)
    if not isinstance(value, dict) or value.get("kind") != "class":
        raise ValueError("'conditioning' must be an object with kind 'class' or 'text'")
    labels, field = value.get("labels"), value.get("field", "label")
    if not isinstance(labels, list) or not all(isinstance(name, str) for name in labels):
        raise ValueError("conditioning labels must be a list of strings")
    if len(set(labels)) != len(labels) or len(labels) != config.num_classes:
        raise ValueError(
            f"conditioning needs {config.num_classes} distinct labels (num_classes), "
            f"got {len(labels)}"
        )
    if not isinstance(field, str):
        raise ValueError("conditioning field must be a string")
    return ClassConditioning(tuple(labels), field)


def _read_text(value: dict, config: UNetConfig) -> TextConditioning:
    encoder, key, fields = value.get("encoder"), value.get("encoder_key"), value.get("fields", [])
    if not config.text_dim:
        raise ValueError("conditioning kind 'text' needs a network with text_dim > 0")
    if not isinstance(encoder, str) or not isinstance(key, str):
        raise ValueError("text conditioning needs the strings 'encoder' and 'encoder_key'")
    if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
        raise ValueError("text conditioning fields must be a list of strings")
    if value.get("tokens") != config.text_tokens:
        raise ValueError(f"text conditioning tokens must equal text_tokens ({config.text_tokens})")
    return TextConditioning(encoder, key, config.text_tokens, tuple(fields))


def conditioning_from_dict(value: dict[str, Any]) -> Conditioning:
    """The conditioning `to_dict` wrote (already checked against its network elsewhere)."""
    if value["kind"] == "text":
        fields = tuple(value.get("fields", ()))
        return TextConditioning(value["encoder"], value["encoder_key"], value["tokens"], fields)
    return ClassConditioning(tuple(value["labels"]), value["field"])
