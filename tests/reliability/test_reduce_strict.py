"""Case 9: `reduce` keeps exit 0 on an incomplete run but says so; `--strict` exits 1 naming what is missing or
failed; `submit --reduce` prints the completeness line."""

from __future__ import annotations

import pytest

from runner.cli import main
from runner.plan import read_plan
from sercore.io import write_text

pytestmark = pytest.mark.slow


def test_reduce_strict_names_missing_and_failed(copy_run, capsys) -> None:
    grid_file, paths = copy_run()
    gone, failed = (e.id for e in read_plan(paths)["attack"])
    paths.shard("attack", gone).unlink()
    paths.shard("attack", failed).unlink()
    write_text(paths.error(failed), "RuntimeError: out of memory\n\nTraceback...\nRuntimeError: out of memory\n")
    assert main(["reduce", str(paths.root)]) == 0
    out = capsys.readouterr().out
    assert "incomplete: 2/4 planned jobs ok (1 failed, 1 missing)" in out
    assert main(["reduce", str(paths.root), "--strict"]) == 1
    captured = capsys.readouterr()
    assert "incomplete: 2/4 planned jobs ok (1 failed, 1 missing)" in captured.out
    assert sorted(captured.err.splitlines()) == sorted([
        f"error: attack {gone} missing: no shard and no error file",
        f"error: attack {failed} failed: RuntimeError: out of memory",
    ])


def test_submit_reduce_prints_completeness(copy_run, capsys) -> None:
    grid_file, paths = copy_run()
    assert main(["submit", str(grid_file), "--no-progress", "--reduce"]) == 0
    out = capsys.readouterr().out
    assert "complete: 4/4 planned jobs ok" in out.splitlines()
