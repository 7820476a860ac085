"""runner.calibrate's measurements of a real job's own costs, on small inputs: a features job (fixed + per file
version) and a training job (per job + per epoch). Timings vary with the machine; the checks are on what must
hold whatever its speed."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner import calibrate


@pytest.mark.slow
def test_a_features_job_is_measured_as_fixed_plus_per_version(tmp_path: Path) -> None:
    got = calibrate.features_job_costs(tmp_path, sizes=(1, 2))
    assert set(got) == {"features_job_s", "features_job_per_version_s", "features_job_per_audio_s",
                        "synthetic_per_file_s"}
    assert got["synthetic_per_file_s"] > 0
    # two sizes: the slope from both, the fixed part from the smaller; each clamped at 0 (a noisy machine can
    # make the larger build look no slower)
    assert got["features_job_per_version_s"] >= 0 and got["features_job_s"] >= 0
    # per second of audio: the generator's files last 1-7 s, so between a seventh of and the per-version cost
    assert got["features_job_per_version_s"] / 7 <= got["features_job_per_audio_s"] <= got["features_job_per_version_s"]
    # the two corpora were really built: 4 speakers x 5 emotions x 1 and x 2 files
    assert len(list((tmp_path / "features-2").rglob("*.wav"))) == 40


@pytest.mark.slow
def test_a_training_job_costs_more_than_its_steps(tmp_path: Path) -> None:
    """fit_s holds what a 1-epoch job pays beyond one epoch (build, compile, tracing, predict, save): more than
    nothing; epoch_s is one whole epoch of the small job, so more than its 2 steps' share of nothing either."""
    fixed, epoch = calibrate.fit_costs("m1", 0.125)
    assert fixed > 0 and epoch > 0
    assert fixed > epoch  # tracing the train and validation functions dwarfs an epoch of 2 steps
