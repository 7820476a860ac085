"""Cases 5 and 6: booleans for numbers, non-finite floats and duplicate keys are validation problems (all at
once); a YAML syntax error says FILE:LINE:COL."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.grid import GridError, load_grid
from sercore.errors import ConfigError

GRID = """\
name: t
seeds: [0]
corpora: [{{name: synthetic, synthetic_per_class: 2}}]
resources: {{default: {{gpus: true}}}}
stages:
  features: {{}}
  train:
    model: {{width: 0.25}}
    train: {{epochs: {epochs}}}
  attack:
    attacks: {{fgsm: {{eps: {eps}}}}}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "g.yaml"
    path.write_text(text + f"output: {tmp_path / 'run'}\n")
    return path


def test_bool_for_int_and_non_finite_floats_are_all_reported(tmp_path: Path) -> None:
    path = _write(tmp_path, GRID.format(epochs="true", eps=".inf"))
    with pytest.raises(GridError) as err:
        load_grid(path)
    assert err.value.problems == [
        f"{path}: resources.default.gpus: must be a number, not a boolean (got True)",
        f"{path}: stages.train.train.epochs: must be a number, not a boolean (got True)",
        f"{path}: stages.attack.attacks.fgsm.eps: must be a finite number (got inf)",
    ]
    path = _write(tmp_path, GRID.format(epochs="2", eps=".nan").replace("gpus: true", "gpus: 0"))
    with pytest.raises(GridError, match=r"stages\.attack\.attacks\.fgsm\.eps: must be a finite number \(got nan\)"):
        load_grid(path)
    grid = load_grid(_write(tmp_path, GRID.format(epochs="2", eps="0.5").replace("gpus: true", "gpus: 0")))
    assert grid.jobs["train"][0].spec.train.epochs == 2


def test_duplicate_keys_join_the_problem_list(tmp_path: Path) -> None:
    text = GRID.format(epochs="5", eps="0.5").replace("    train: {epochs: 5}\n",
                                                      "    train: {epochs: 5}\n    train: {epochs: 50}\n")
    path = _write(tmp_path, text)
    with pytest.raises(GridError) as err:
        load_grid(path)
    assert err.value.problems == [
        f"{path}:10:5: key 'train' given twice in one mapping (first at line 9); YAML would silently keep the "
        "last value",
        f"{path}: resources.default.gpus: must be a number, not a boolean (got True)",
    ]


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "g.yaml"
    path.write_text("name: t\nstages:\n  train: {model: {width: 0.25}\n  attack: x\n")
    with pytest.raises(ConfigError) as err:
        load_grid(path)
    assert str(err.value) == (f"{path}:4:3: not valid YAML: did not find expected ',' or '}}' "
                              "(while parsing a flow mapping at line 3, column 10)")
