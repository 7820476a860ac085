"""The reliability campaign's shared pieces: one finished tiny real run that tests copy, and its comparison.

The run (features, one final model trained for 2 epochs, two FGSM jobs on 4 test samples) is built once per
session with the real science jobs; a test that breaks something copies it first, so the campaign costs one
run plus what each repair redoes.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest
import yaml

from runner.dispatch import submit
from runner.grid import load_grid
from runner.paths import STAGES, RunPaths
from tests.runner.conftest import fake_jobs, make_grid  # noqa: F401 - fixtures
from tests.runner.test_local_e2e import TINY as E2E
from tests.runner.tiny import VOLATILE

# test_local_e2e's tiny synthetic grid with fewer stages: features, a final model, two FGSM jobs.
TINY = {
    **E2E,
    "name": "rel",
    "stages": {
        "features": {},
        "train": {"model": {"width": 0.125, "lstm_units": 4}, "train": {"epochs": 2}},
        "attack": {"limit": 4, "chunk_size": 2, "examples": 1, "attacks": {"fgsm": {"eps": [0.25, 0.5]}}},
    },
}


def tiny_grid(folder: Path, run: Path, cache: Path, **changes) -> Path:
    """TINY written to folder/grid.yaml with `output: run` and the session cache."""
    data = {**TINY, "output": str(run), "cache": str(cache), **changes}
    path = folder / "grid.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def finished_run(tmp_path_factory: pytest.TempPathFactory, cache_dir: Path) -> Path:
    """A finished, reduced tiny run (do not modify: copy it with `copy_run`)."""
    base = tmp_path_factory.mktemp("reliability")
    grid = load_grid(tiny_grid(base, base / "run", cache_dir))
    runs = submit(grid, executor="local", progress=False)
    assert [(r.stage, r.failures) for r in runs] == [(s, []) for s in grid.stages]
    from runner.reduce.report import reduce_run

    reduce_run(base / "run", progress=False, audio_limit=0)  # tables are compared, not sounds
    return base / "run"


@pytest.fixture
def copy_run(finished_run: Path, tmp_path: Path, cache_dir: Path):
    """copy_run() -> (grid file, RunPaths) of a private copy of the finished run."""

    def make() -> tuple[Path, RunPaths]:
        dest = tmp_path / "run"
        shutil.copytree(finished_run, dest)
        return tiny_grid(tmp_path, dest, cache_dir), RunPaths(dest)

    return make


def results(paths: RunPaths) -> dict[str, pd.DataFrame]:
    """Every stage's compacted results without the volatile columns, in a canonical row order."""
    out = {}
    for stage in STAGES:
        path = paths.results(stage)
        if path.exists():
            df = pd.read_parquet(path)
            df = df.drop(columns=[c for c in df.columns if VOLATILE.search(c)])
            keys = [c for c in ("job_id", "sample", "path") if c in df.columns]
            out[stage] = df.sort_values(keys).reset_index(drop=True)[sorted(df.columns)]
    return out


def assert_same_results(a: RunPaths, b: RunPaths) -> None:
    ra, rb = results(a), results(b)
    assert list(ra) == list(rb)
    for stage in ra:
        pd.testing.assert_frame_equal(ra[stage], rb[stage], check_dtype=False, obj=stage)


def tables(paths: RunPaths) -> dict[str, pd.DataFrame]:
    """The report's CSV tables without timing columns (a redone chunk is not slower or faster by design)."""
    out = {}
    for csv in sorted((paths.report_dir / "tables").glob("*.csv")):
        df = pd.read_csv(csv)
        out[csv.stem] = df.drop(columns=[c for c in df.columns if "time" in c.lower() or VOLATILE.search(c)])
    return out


def assert_same_tables(a: RunPaths, b: RunPaths) -> None:
    ta, tb = tables(a), tables(b)
    assert list(ta) == list(tb) and ta, "no tables to compare"
    for name in ta:
        pd.testing.assert_frame_equal(ta[name], tb[name], obj=name)


def alias_bomb(indent: str = "", levels: int = 9, width: int = 9) -> str:
    """A "billion laughs" YAML block: `levels` anchors, each a list of `width` aliases to the one before
    (9 x 9: 342 bytes standing for 435,848,050 values)."""
    lines = [f"{indent}l0: &l0 [{', '.join(['lol'] * width)}]"]
    lines += [f"{indent}l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * width)}]" for i in range(1, levels)]
    return "\n".join(lines) + "\n"


def cli(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, list[str]]:
    """(exit code, stderr lines) of `python -m runner ARGV`, run in this process."""
    from runner.cli import main

    capsys.readouterr()
    code = main([str(a) for a in argv])
    return code, capsys.readouterr().err.splitlines()
