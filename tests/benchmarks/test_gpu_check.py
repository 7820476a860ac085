"""benchmarks/gpu_check.py runs unchanged on a CPU at its tiny size and writes its report and a calibration."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from runner.cost import load_calibration
from sercore.attacks import ATTACKS

REPO = Path(__file__).resolve().parents[2]
EMODB = Path(os.environ.get("EMODB_ROOT", REPO.parent / "shared" / "data" / "emodb"))

pytestmark = pytest.mark.slow


def run_check(out: Path, *extra: str) -> dict:
    env = {**os.environ, "SERTACK_GPU_CHECK_SIZE": "tiny", "CUDA_VISIBLE_DEVICES": ""}
    done = subprocess.run([sys.executable, str(REPO / "benchmarks" / "gpu_check.py"), "--out", str(out), *extra],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "no GPU: running on CPU" in done.stdout and "cost_model_s" in done.stdout
    report = json.loads((out / "gpu_check.json").read_text())
    assert report["size"] == "tiny"
    assert [a["attack"] for a in report["attacks"]] == [n for n, m in ATTACKS.items() if not m.needs_logits]
    for a in report["attacks"]:
        assert a["samples"] >= 1 and a["generate_s"] > 0 and a["cost_model_s"] > 0, a
        assert 0 <= a["accuracy_adv"] <= 1
    cal = load_calibration(out / "calibration.json")
    assert cal.device == "cpu" and cal.models[0].width == report["train"]["width"]
    assert cal.train_by_batch and set(cal.models[0].train_s) == {1, 8}  # the training step at each batch size
    return report


def test_tiny_gpu_check_runs_on_a_cpu(tmp_path: Path) -> None:
    """On real EmoDB where it is here (what the device check runs), else on the synthetic corpus: one run, ~95 s on
    2 cores; the two corpora share every step after loading, and loading each is tested in tests/sercore."""
    if EMODB.is_dir() and any(EMODB.glob("*.wav")):
        report = run_check(tmp_path / "emodb", "--corpus", "emodb", "--root", str(EMODB))
        # --size tiny turns augmentation off, so the paper split's 20 % test side holds ~90 of EmoDB's original
        # segments
        assert report["corpus"] == "emodb" and report["train"]["n_test"] > 80
    else:
        report = run_check(tmp_path / "syn", "--corpus", "synthetic")
        assert report["corpus"] == "synthetic"
