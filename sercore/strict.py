"""Numbers in specs and grids are numbers: no YAML `true` for an int, no `.inf`/`.nan` for a float.

Pydantic's lax mode turns `epochs: true` into 1 and lets `eps: .inf` through; a grid with either ran with a
value nobody meant. `StrictNumbers` is the base that forbids both (with the field's own key path in the error)
while keeping the lax conversions grids rely on (lists to tuples, ints to floats, numeric strings).

`pydantic_problems` is the one formatter of pydantic's errors for users: one `FILE: key.path: message (got X)`
line per error, in the house wording (grids, site profiles and the statistics block all read the same).
"""

from __future__ import annotations

import types
from collections.abc import Sequence
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import ErrorDetails


def _admits(annotation: Any, kind: type) -> bool:
    """Whether a field annotation accepts values of `kind` (bool, int, float) as such."""
    if annotation is kind:
        return True
    if annotation is Any:
        return kind is bool
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _admits(args[0], kind)
    if origin in (Union, types.UnionType):
        return any(_admits(a, kind) for a in args)
    if origin is Literal:
        return any(type(a) is kind for a in args)
    return False


def _items(annotation: Any) -> Any:
    """The item annotation of a tuple[X, ...] / list[X] field (None for anything else)."""
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _items(args[0])
    if origin in (Union, types.UnionType):
        found = [i for i in map(_items, args) if i is not None]
        return found[0] if found else None
    if origin in (tuple, list) and args:
        return args[0]
    return None


def bool_for_number(annotation: Any, value: Any) -> bool:
    """True if `value` is a bool where the annotation wants a number (and no bool)."""
    if isinstance(value, bool):
        return not _admits(annotation, bool) and (_admits(annotation, int) or _admits(annotation, float))
    if isinstance(value, (list, tuple)) and (item := _items(annotation)) is not None:
        return any(bool_for_number(item, v) for v in value)
    return False


class BoolNumber:
    """Stands in for a boolean given where a number belongs: no number type accepts it, so pydantic reports
    the field (with its key path) and goes on validating the others; `message` is what to tell the user."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __repr__(self) -> str:
        return repr(self.value)

    @property
    def message(self) -> str:
        return f"must be a number, not a boolean (got {self.value!r})"


class StrictNumbers(BaseModel):
    """Base for validated settings: finite floats only, no booleans for numbers.

    A model-level `before` check (a `*` field validator would also hit the job specs' `kind` discriminator,
    which pydantic forbids) swaps each misplaced boolean for a `BoolNumber`, which the field then rejects."""

    model_config = ConfigDict(allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _no_bool_numbers(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        bad = {name for name, value in data.items() if isinstance(name, str) and name in cls.model_fields
               and bool_for_number(cls.model_fields[name].annotation, value)}
        return {k: BoolNumber(v) if k in bad else v for k, v in data.items()} if bad else data


# ---------------------------------------------------------------- the one formatter of pydantic errors


def key_path(loc: Sequence[str | int], prefix: str = "") -> str:
    """How messages name a value: `prefix.key[0].sub` (list indices in brackets, as a grid file shows them)."""
    out = prefix
    for part in loc:
        out = f"{out}[{part}]" if isinstance(part, int) else (f"{out}.{part}" if out else str(part))
    return out


def problem_message(err: ErrorDetails) -> str:
    """One pydantic error in the house wording: the offending value after `got`, the options where they are closed."""
    msg, kind, got = err["msg"].removeprefix("Value error, "), err["type"], err.get("input")
    if isinstance(got, BoolNumber):
        return got.message
    if kind == "extra_forbidden":
        return f"unknown key (got {got!r})"
    if kind == "literal_error":
        return f"invalid value (got {got!r}; expected one of {err.get('ctx', {}).get('expected')})"
    if kind == "missing":
        return "required key is missing"
    if "(got" not in msg and not isinstance(got, dict):
        return f"{msg} (got {got!r})"
    return msg


def pydantic_problems(exc: ValidationError, file: str, prefix: str = "") -> list[str]:
    """One `FILE: key.path: message (got X)` line per pydantic error; `prefix` is where the model sits in the file."""
    return [f"{file}: {key_path(err['loc'], prefix) or '<top level>'}: {problem_message(err)}" for err in exc.errors()]
