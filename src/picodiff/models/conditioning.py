"""What a conditional network is conditioned on, as a checkpoint's config records it:

    "conditioning": {"kind": "class", "field": "class", "labels": ["Ankle boot", "Bag", ...]}

Label i is class index i of the network (`UNetConfig.num_classes` = len(labels)); the null
class (index num_classes) is the unconditional branch of classifier-free guidance.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .config import UNetConfig

DEFAULT_GUIDANCE = 3.0  # classifier-free guidance w when a label is asked for without one


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


def read_conditioning(value: Any, config: UNetConfig) -> ClassConditioning | None:
    """The conditioning of a config.json (None: unconditional), checked against its network;
    ValueError says what is wrong."""
    if value is None:
        if config.num_classes:
            raise ValueError(f"num_classes is {config.num_classes} but no 'conditioning' is given")
        return None
    if not isinstance(value, dict) or value.get("kind") != "class":
        raise ValueError("'conditioning' must be an object with kind 'class'")
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
