"""Ctrl-C and SIGTERM during a job (issue 23, item 2): one line on the terminal, exit 128 + signal, and an
error file whose first line names the signal. A real `python -m runner submit` in a subprocess, its only job
held in a fault-injected sleep (no science runs)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from runner.grid import load_grid
from runner.locks import attempts
from runner.paths import RunPaths
from runner.status import run_status
from runner.worker import FAULT_ENV
from tests.runner.conftest import BASE, changed, write_grid

REPO = Path(__file__).resolve().parents[2]
FEATURES_ONLY = changed(BASE, seeds=[0], protocols=["paper"], stages={"features": {}})


def _as_in_a_terminal() -> None:
    """Ctrl-C's default disposition in the child: a shell without job control starts background commands (a CI
    script's `... &`) with SIGINT ignored, and Python then installs no KeyboardInterrupt handler."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _stop(proc: subprocess.Popen, sig: signal.Signals, started: Callable[[], object]) -> str:
    """Once `started()` returns true (or None), send the signal, wait, and check the exit status is 128 + signal;
    its stderr. The process is killed whatever happens."""
    try:
        assert started() is not False, "the command did not start"
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode == 128 + sig
    return err


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_during_a_job_ends_in_one_line_and_an_error_file(tmp_path: Path, sig: signal.Signals) -> None:
    path = write_grid(tmp_path, FEATURES_ONLY)
    job = load_grid(path).jobs["features"][0].id
    paths = RunPaths(tmp_path / "run")
    env = {**os.environ, FAULT_ENV: f"{job}:sleep=60"}
    proc = subprocess.Popen([sys.executable, "-m", "runner", "submit", str(path), "--no-progress"], cwd=REPO,
                            preexec_fn=_as_in_a_terminal,
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    def started() -> None:
        deadline = time.monotonic() + 30
        while attempts(paths.lock("features", job)) < 1:  # the job has started (under its lock)
            assert proc.poll() is None and time.monotonic() < deadline, proc.communicate()
            time.sleep(0.05)

    err = _stop(proc, sig, started)
    assert err.splitlines() == [f"error: interrupted by {sig.name}; finished jobs are kept, the same command carries "
                                "on from them"]
    reason = f"Interrupted: {sig.name} stopped the job before it finished (the next submit redoes it)"
    assert paths.error(job).read_text().splitlines()[0] == reason
    assert run_status(paths)["features"]["failures"] == {job: reason}


# Between two jobs: the first job's shard is written, the next has not started (the in-process executor's
# release_memory runs after each pack: each job here). The job itself is a one-row fake: no science runs.
_BETWEEN = """
import os, signal, sys
import pandas as pd
import runner.executors, sercore.jobs
from runner.cli import main
sercore.jobs.entry_point = lambda kind: lambda spec, workdir, env: pd.DataFrame({"kind": [kind], "value": [1.0]})
runner.executors.release_memory = lambda: os.kill(os.getpid(), int(sys.argv[2]))
raise SystemExit(main(["submit", sys.argv[1], "--no-progress"]))
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_signal_between_jobs_ends_in_one_line_and_keeps_the_finished_job(tmp_path: Path, sig: signal.Signals) -> None:
    path = write_grid(tmp_path, FEATURES_ONLY)
    job = load_grid(path).jobs["features"][0].id
    paths = RunPaths(tmp_path / "run")
    done = subprocess.run([sys.executable, "-c", _BETWEEN, str(path), str(int(sig))], cwd=REPO,
                          preexec_fn=_as_in_a_terminal,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 128 + sig, done.stderr
    assert done.stderr.splitlines() == [f"error: interrupted by {sig.name}; finished jobs are kept, the same "
                                        "command carries on from them"]
    assert paths.shard("features", job).exists() and not paths.error(job).exists()
    assert run_status(paths)["features"]["done"] == 1


# `python -m sercore`: a command held in a sleep once it has started (its function patched; the router is real).
_SERCORE = """
import sys, time
import sercore.cli.models as models
from sercore.cli.main import main
def hold(args):
    print("ready", flush=True)
    time.sleep(60)
models._cli_models = hold
raise SystemExit(main(["models"]))
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_sercore_command_ends_in_one_line_on_a_signal(sig: signal.Signals) -> None:
    proc = subprocess.Popen([sys.executable, "-c", _SERCORE], cwd=REPO, preexec_fn=_as_in_a_terminal,
                            stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    err = _stop(proc, sig, lambda: proc.stdout is not None and proc.stdout.readline() == "ready\n")
    assert err.splitlines() == [f"error: interrupted by {sig.name}; the same command carries on (training resumes "
                                "from its backup)"]
