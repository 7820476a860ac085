"""Round 3, item 3: the reducer publishes all or nothing under a lock, its write failures are one line, it can
write elsewhere (`--out`) for a read-only run; `submit` on a complete read-only run has nothing to do."""

from __future__ import annotations

import errno
import os
import subprocess
import threading
from pathlib import Path

import pytest

from runner.cli import main
from runner.locks import locked
from runner.paths import RunPaths
from runner.reduce import report as report_mod
from runner.reduce.publish import LOCK
from runner.reduce.report import reduce_run

from .conftest import assert_same_tables, tiny_grid

pytestmark = pytest.mark.slow


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.glob(".reduce.*") if p.name != LOCK)


def test_second_reduce_waits_for_the_lock_or_says_who_holds_it(copy_run, finished_run, capsys) -> None:
    _, paths = copy_run()
    with locked(paths.root / LOCK, what="reduce"):  # a reduce of this run is running (this process)
        assert main(["reduce", str(paths.root), "--no-wait"]) == 2
        assert capsys.readouterr().err == f"error: another reduce is running (pid {os.getpid()}) on {paths.root}\n"
        assert main(["reduce", str(paths.root), "--timeout", "0.3"]) == 2
        assert capsys.readouterr().err == (f"error: another reduce is running (pid {os.getpid()}) on {paths.root} "
                                           "(waited 0.3 s)\n")
    # two at once: one waits for the other, both succeed, the report is whole
    done: list[Path] = []
    threads = [threading.Thread(target=lambda: done.append(reduce_run(paths.root, progress=False, audio_limit=0)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert done == [paths.report_dir, paths.report_dir] and leftovers(paths.root) == []
    assert_same_tables(paths, RunPaths(finished_run))


def test_killed_or_failing_reduce_leaves_the_old_report_whole(copy_run, monkeypatch, capsys) -> None:
    _, paths = copy_run()
    before = snapshot(paths.report_dir)
    results = snapshot(paths.results_dir)

    def killed(*args, **kwargs):
        raise KeyboardInterrupt  # Ctrl-C (or a kill) after every table of the new report was written

    monkeypatch.setattr(report_mod, "render_html", killed)
    with pytest.raises(KeyboardInterrupt):
        reduce_run(paths.root, progress=False, audio_limit=0)
    assert snapshot(paths.report_dir) == before and snapshot(paths.results_dir) == results
    assert leftovers(paths.root) == []

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(paths.root / "report" / "README.md"))

    monkeypatch.setattr(report_mod, "write_text", full)
    assert main(["reduce", str(paths.root)]) == 2
    assert capsys.readouterr().err == (f"error: {paths.root / 'report' / 'README.md'}: cannot write the reduce's "
                                       "output (No space left on device)\n")
    assert snapshot(paths.report_dir) == before and leftovers(paths.root) == []


def test_reduce_killed_between_its_renames_is_repaired_by_the_next(copy_run, monkeypatch) -> None:
    _, paths = copy_run()
    before = snapshot(paths.report_dir)
    stale = paths.root / ".reduce.dead"  # a reduce killed -9 after moving the old report aside
    (stale / "report" / "tables").mkdir(parents=True)
    (stale / "report" / "tables" / "half.csv").write_text("a\n")
    paths.report_dir.rename(stale / "report.old")
    monkeypatch.setattr(report_mod, "render_html", lambda *a, **k: 1 / 0)  # this one fails after the repair
    with pytest.raises(ZeroDivisionError):
        reduce_run(paths.root, progress=False, audio_limit=0)
    assert snapshot(paths.report_dir) == before and leftovers(paths.root) == []


@pytest.fixture
def read_only(tmp_path: Path):
    """read_only(folder) -> the folder, read-only (a read-only bind mount when running as root)."""
    mounts: list[Path] = []

    def make(folder: Path) -> Path:
        if os.geteuid() != 0:
            for p in [folder, *folder.rglob("*")]:
                if p.is_dir():
                    p.chmod(0o555)
            mounts.append(folder)
            return folder
        view = tmp_path / "ro"
        view.mkdir()
        for cmd in (["mount", "--bind", str(folder), str(view)], ["mount", "-o", "remount,bind,ro", str(view)]):
            if subprocess.run(cmd, capture_output=True).returncode != 0:
                subprocess.run(["umount", str(view)], capture_output=True)
                pytest.skip("needs a read-only folder: running as root and `mount -o bind,ro` is not permitted")
        mounts.append(view)
        return view

    yield make
    for m in mounts:
        if os.geteuid() == 0:
            subprocess.run(["umount", str(m)], check=True)
        else:
            for p in [m, *m.rglob("*")]:
                if p.is_dir():
                    p.chmod(0o755)


def test_read_only_run_reduces_elsewhere_and_submit_has_nothing_to_do(copy_run, finished_run, read_only,
                                                                       tmp_path, cache_dir, capsys) -> None:
    _, paths = copy_run()
    ro = read_only(paths.root)
    before = snapshot(ro)
    assert main(["reduce", str(ro)]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {ro / LOCK}: cannot write the reduce's output (") and err.count("\n") == 1
    assert err.endswith("; `reduce --out DIR` writes results/ and report/ elsewhere\n")
    out = tmp_path / "elsewhere"
    assert main(["reduce", str(ro), "--out", str(out), "--strict"]) == 0
    assert capsys.readouterr().out.splitlines() == [f"report: {out / 'report' / 'index.html'}",
                                                    "complete: 4/4 planned jobs ok"]
    assert_same_tables(RunPaths(out), RunPaths(finished_run))  # tables() reads out/report/tables
    grid = tiny_grid(tmp_path, ro, cache_dir)
    assert main(["submit", str(grid), "--no-progress"]) == 0
    assert capsys.readouterr().out == f"nothing to do: 4/4 jobs done (run folder {ro} is read-only)\n"
    assert snapshot(ro) == before
