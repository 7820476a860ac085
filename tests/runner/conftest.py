"""Runner test helpers: tiny grids written to tmp_path, a fake job layer, the golden-file check."""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
import yaml

BASE: dict[str, Any] = {
    "name": "t",
    "seeds": [0, 1],
    "protocols": ["paper", "clean"],
    "corpora": [{"name": "synthetic", "synthetic_per_class": 2}],
    "stages": {
        "features": {},
        "tune": {"stage": [1, 2], "max_epochs": 2, "max_trials": 1, "model": {"width": 0.25}},
        "norm_study": {"normalization": ["original", "norm_sum"], "standardize": [False, True],
                       "model": {"arch": "m0", "width": 0.25}, "train": {"epochs": 1}},
        "arch_study": {"model": {"arch": ["m0", "m1"], "width": 0.25}, "train": {"epochs": 1}},
        "train": {"model": {"width": 0.25}, "train": {"epochs": 1}},
        "attack": {"limit": 4, "chunk_size": 2, "slices": {"default": 1, "cw_linf": 2},
                   "attacks": {"fgsm": {"eps": [0.25, 1.0]}, "cw_linf": {}}},
    },
}


# the smallest real run's header: one seed, the paper protocol, 2 synthetic files per class, no augmentation
TINY_HEAD: dict[str, Any] = {"seeds": [0], "protocols": ["paper"],
                             "corpora": [{"name": "synthetic", "synthetic_per_class": 2}],
                             "features": {"augment": False}}


def write_grid(tmp_path: Path, data: dict[str, Any], name: str = "grid.yaml") -> Path:
    data = {"output": str(tmp_path / "run"), **data}
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def changed(data: dict[str, Any], **changes: Any) -> dict[str, Any]:
    """Copy of `data` with `a__b__c=value` set (None removes the key)."""
    data = copy.deepcopy(data)
    for key, value in changes.items():
        node = data
        *parents, last = key.split("__")
        for p in parents:
            node = node[p]
        if value is None:
            node.pop(last, None)
        else:
            node[last] = value
    return data


@pytest.fixture
def make_grid(tmp_path: Path):
    """make_grid(a__b=value, ...) -> path of BASE with those changes, written to tmp_path/grid.yaml."""

    def make(base: dict[str, Any] | None = None, **changes: Any) -> Path:
        return write_grid(tmp_path, changed(base or BASE, **changes))

    return make


GOLDEN = Path(__file__).parent / "golden"


@pytest.fixture
def golden() -> Callable[[str, str], None]:
    """golden(name, text): compare `text` with tests/runner/golden/<name> byte for byte; SERTACK_UPDATE_GOLDEN=1
    rewrites the file instead."""

    def check(name: str, text: str) -> None:
        path = GOLDEN / name
        if os.environ.get("SERTACK_UPDATE_GOLDEN") == "1":
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text, encoding="utf-8")
        assert text == path.read_text(encoding="utf-8"), f"{path} differs (SERTACK_UPDATE_GOLDEN=1 to accept)"

    return check


@pytest.fixture
def fake_jobs(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Replace every science job with one that returns a one-row frame and records what it ran."""
    calls: list[str] = []

    def make(kind: str):
        def run(spec, workdir: Path, env) -> pd.DataFrame:
            calls.append(spec.job_id)
            (workdir / "done.txt").write_text(kind)
            if kind == "attack":
                assert env.upstream is not None and env.upstream.is_dir()
            return pd.DataFrame({"kind": [kind], "value": [1.0]})

        return run

    monkeypatch.setattr("sercore.jobs.entry_point", make)
    # fake jobs build no TF graphs: skip the full garbage collection between in-process jobs (~0.3 s each)
    monkeypatch.setattr("runner.executors.release_memory", lambda: None)
    return calls


@pytest.fixture(scope="session")
def bare_tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny synthetic grid (tests/runner/tiny.py) run bare in-process and reduced, once per session.

    The reference the Slurm and container end-to-end tests compare their reduced tables with.
    """
    from tests.runner.tiny import cli, tiny_grid

    root = tmp_path_factory.mktemp("bare-tiny")
    grid = root / "bare.yaml"
    grid.write_text(yaml.safe_dump(tiny_grid("bare-tiny", root / "run")))
    cli("submit", str(grid), "--executor", "local", "--no-progress", ok=(0,))
    cli("reduce", str(root / "run"), ok=(0,))
    return root / "run"
