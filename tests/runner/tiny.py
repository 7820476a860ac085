"""The tiny synthetic grid that the Slurm and container end-to-end tests run, and how they compare its tables."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[2]
# Columns that legitimately differ between two runs of the same jobs: where, when and in which image they ran,
# which code and packages made them (runner.provenance), wall times and the job's trace (runner.trace).
VOLATILE = re.compile(r"^(host|device|container|image_hash|finished_at|started_at"
                      r"|sertack_version|code_hash|git_commit|git_dirty|packages)$|(train|generate|wall)_s$|per_s$"
                      r"|^peak_rss")


def tiny_grid(name: str, output: Path, **extra: object) -> dict:
    """features (CPU) -> train (1 fake GPU) -> four fgsm attacks (CPU), all tiny."""
    return {
        "name": name,
        "output": str(output),
        "seeds": [0],
        "protocols": ["paper"],
        "corpora": [{"name": "synthetic", "synthetic_per_class": 2}],
        "features": {"augment": False},
        "resources": {"default": {"mem": "2G", "time": 10}, "train": {"gpus": 1}},
        "stages": {
            "features": {},
            "train": {"model": {"width": 0.25}, "train": {"epochs": 1}},
            "attack": {"limit": 4, "attacks": {"fgsm": {"eps": [0.05, 0.1, 0.5, 1.0]}}},
        },
        **extra,
    }


def cli(*args: str, fault: str = "", timeout: float = 600,
        ok: tuple[int, ...] = (0, 1)) -> subprocess.CompletedProcess[str]:
    """`python -m runner ARGS` from the repository root; SERTACK_FAULT_INJECT=`fault` (runner.worker)."""
    env = {**os.environ, "SERTACK_FAULT_INJECT": fault}
    done = subprocess.run(
        [sys.executable, "-m", "runner", *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode in ok, f"runner {' '.join(args)} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


def stable(df: pd.DataFrame) -> pd.DataFrame:
    """Without the VOLATILE columns, rows in a fixed order: what two runs of the same jobs must agree on."""
    df = df.drop(columns=[c for c in df.columns if VOLATILE.search(c)])
    keys = [c for c in ("job_id", "sample", "path") if c in df.columns]
    return df.sort_values(keys).reset_index(drop=True)


def shard_table(run: Path, stage: str) -> pd.DataFrame:
    frames = [pd.read_parquet(p) for p in sorted((run / "shards" / stage).glob("*.parquet"))]
    return stable(pd.concat(frames, ignore_index=True))


def assert_same_results(got: Path, want: Path, stages: list[str]) -> None:
    """The reduced tables of two runs agree (today's Slurm-vs-local tolerance: rtol 1e-5)."""
    for stage in stages:
        a = stable(pd.read_parquet(got / "results" / f"{stage}.parquet"))
        b = stable(pd.read_parquet(want / "results" / f"{stage}.parquet"))
        pd.testing.assert_frame_equal(a, b, check_exact=False, rtol=1e-5, obj=f"results/{stage}.parquet")


def poll(check: Callable[[], bool], timeout_s: float, every_s: float = 2.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every_s)
    return check()


def wait_for_queue(job_names: list[str], timeout_s: float) -> None:
    """Until Slurm has nothing queued or running under these job names (array tasks included)."""

    def empty() -> bool:
        out = subprocess.run(
            ["squeue", "-h", "-o", "%i %T", "--name", ",".join(job_names)], capture_output=True, text=True
        )
        return out.returncode == 0 and not out.stdout.strip()

    assert poll(empty, timeout_s, every_s=3), f"jobs {job_names} still queued after {timeout_s} s"
