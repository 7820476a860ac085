"""sercore.strict.pydantic_problems: the one formatter of pydantic errors (grids, site profiles, statistics)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from sercore.errors import ConfigError
from sercore.strict import StrictNumbers, key_path, pydantic_problems


class Inner(StrictNumbers):
    model_config = ConfigDict(extra="forbid")
    n: int = Field(1, ge=1)
    mode: Literal["a", "b"] = "a"


class Outer(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    items: list[Inner] = []

    @model_validator(mode="after")
    def _rule(self) -> Outer:
        if self.name == "bad":
            raise ValueError("name must not be 'bad'")
        return self


def _problems(data: dict, prefix: str = "") -> list[str]:
    with pytest.raises(ValidationError) as info:
        Outer.model_validate(data)
    return pydantic_problems(info.value, "g.yaml", prefix)


def test_key_paths_use_dots_for_keys_and_brackets_for_indices() -> None:
    assert key_path(("items", 2, "n")) == "items[2].n"
    assert key_path(("n",), "stages.train[0]") == "stages.train[0].n"
    assert key_path((), "corpora[1]") == "corpora[1]"


def test_one_line_per_error_in_the_house_wording() -> None:
    found = _problems({"items": [{"n": 0, "mode": "c", "extra": 1}, {"n": True}]}, "top")
    assert found == [
        "g.yaml: top.name: required key is missing",
        "g.yaml: top.items[0].n: Input should be greater than or equal to 1 (got 0)",
        "g.yaml: top.items[0].mode: invalid value (got 'c'; expected one of 'a' or 'b')",
        "g.yaml: top.items[0].extra: unknown key (got 1)",
        "g.yaml: top.items[1].n: must be a number, not a boolean (got True)",
    ]


def test_model_level_errors_name_the_model_or_the_top_level() -> None:
    assert _problems({"name": "bad"}, "x") == ["g.yaml: x: name must not be 'bad'"]
    assert _problems({"name": "bad"}) == ["g.yaml: <top level>: name must not be 'bad'"]


def test_site_profile_errors_go_through_it(tmp_path: Path) -> None:
    from runner.resources import load_profile

    bad = tmp_path / "site.yaml"
    bad.write_text("partitions: gpu\n")
    with pytest.raises(ConfigError) as info:
        load_profile(bad)
    assert str(info.value).startswith(f"{bad}: partitions: unknown key (got 'gpu') (valid keys: setup, env")
