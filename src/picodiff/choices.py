"""Enumerated options: each is a `Literal` type, checked once where a value enters (a config, a
request, a command line) by `check_choice` or `check_fields`, with an error naming the legal
values; the code below that point trusts it."""

from __future__ import annotations

import dataclasses
import types
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

from .errors import OptionError


def check_choice(name: str, value: Any, kind: Any) -> Any:
    """`value` if it is one of the Literal type `kind`'s values, else an OptionError."""
    legal = get_args(kind)
    if value not in legal:
        raise OptionError(f"{name} must be one of {legal}, got {value!r}", field=name)
    return value


def check_fields(obj: Any) -> None:
    """check_choice on every field of the dataclass `obj` typed as a Literal (or Literal | None)."""
    hints = get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        kind, optional = _literal(hints[f.name])
        value = getattr(obj, f.name)
        if kind is not None and not (optional and value is None):
            check_choice(f.name, value, kind)


def _literal(hint: Any) -> tuple[Any, bool]:
    """(the Literal inside `hint`, whether None is allowed), or (None, ...) for other types."""
    if get_origin(hint) is Literal:
        return hint, False
    if get_origin(hint) in (Union, types.UnionType):
        values = [v for a in get_args(hint) if get_origin(a) is Literal for v in get_args(a)]
        if values:
            return Literal[tuple(values)], type(None) in get_args(hint)
    return None, False
