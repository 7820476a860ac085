"""The problems of one grid file, collected while it is checked and raised once (`runner.grid.GridError`).

A list of `FILE: key.path: message` lines that knows its file, so expansion passes one object instead of a
`file, problems` pair through every helper.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import ValidationError

from sercore.strict import pydantic_problems


class Problems(list[str]):
    """Every problem found so far, in the order found; `file` prefixes each line `add` writes."""

    def __init__(self, file: str, found: Iterable[str] = ()) -> None:
        super().__init__(found)
        self.file = file

    def add(self, where: str, message: str) -> None:
        self.append(f"{self.file}: {where}: {message}")

    def invalid(self, exc: ValidationError, where: str) -> None:
        """A pydantic model's errors, one line each, under the key path `where`."""
        self.extend(pydantic_problems(exc, self.file, where))
