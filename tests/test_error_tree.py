"""The exception tree drawn in sercore/errors.py's docstring is the code's: every class named there exists where
it says and subclasses the class drawn above it, and every sertack exception class is drawn."""

from __future__ import annotations

import importlib
import re

import runner.grid
import runner.locks
import runner.reduce.publish
import sercore.errors


def _drawn() -> dict[str, tuple[type, str | None]]:
    """name -> (class, parent name) from the docstring's tree (the parent is the nearest line less indented)."""
    out: dict[str, tuple[type, str | None]] = {}
    stack: list[tuple[int, str]] = []
    for line in (sercore.errors.__doc__ or "").splitlines():
        m = re.match(r"^(\s*(?:[│ ]*[├└]── )?)(\w+)\s+(?:\((\S+)\))?", line)
        if not m or not m.group(2).endswith(("Error", "Busy")):
            continue
        depth, name = len(m.group(1)), m.group(2)
        module = importlib.import_module(m.group(3) or "sercore.errors")
        while stack and stack[-1][0] >= depth:
            stack.pop()
        out[name] = (getattr(module, name), stack[-1][1] if stack else None)
        stack.append((depth, name))
    return out


def test_the_drawn_tree_is_the_class_tree() -> None:
    drawn = _drawn()
    assert {"SertackError", "ConfigError", "GridError", "JobBusy", "ReduceBusy", "LockError"} <= set(drawn)
    for _name, (cls, parent) in drawn.items():
        if parent is not None:
            assert cls.__bases__ == (drawn[parent][0],), f"{cls.__name__} should subclass {parent}"


def test_every_sertack_exception_is_drawn() -> None:
    modules = (sercore.errors, runner.grid, runner.locks, runner.reduce.publish)
    found = {v.__name__ for m in modules for v in vars(m).values()
             if isinstance(v, type) and issubclass(v, sercore.errors.SertackError)}
    assert found <= set(_drawn())
