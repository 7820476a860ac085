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
                        "synthetic_per_file_s", "data_per_segment_s"}
    assert got["data_per_segment_s"] > 0  # prepare on the larger store
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
    # with XLA: four compilations (two functions, two batch shapes each) on top of the same job
    assert calibrate.fit_xla_timing("m1", 0.125) > fixed


def test_an_eager_call_pays_a_per_call_overhead() -> None:
    """Transfer jobs call the Keras model eagerly: per sample it costs less in bigger calls (the call's own
    overhead, ~0.1 s on the dev VM, is shared), and the first call on a fresh model costs extra."""
    import numpy as np

    from sercore.models import build_model
    from sercore.specs import ModelSpec

    x = np.random.default_rng(0).normal(size=(16, *calibrate.SHAPE)).astype(np.float32)
    per_sample, first = calibrate.eager_costs(build_model(ModelSpec(arch="m1", width=0.125), 5), x, [1, 16])
    assert set(per_sample) == {1, 16} and per_sample[16] < per_sample[1] and first >= 0


@pytest.mark.slow
def test_a_search_is_measured_as_one_off_plus_per_trial() -> None:
    """tune_costs runs sercore.tune's search for 1 and then 2 trials in a fresh interpreter: a trial compiles a new
    model, so it costs more than nothing beyond its one epoch of 64 samples."""
    measured = {"train_s": {32: 0.001}, "forward_s": {32: 0.001}}
    job, trial = calibrate.tune_costs("m1", 0.125, measured)
    assert trial > 0 and job >= 0


@pytest.mark.slow
def test_attack_jobs_are_timed_per_attack(monkeypatch: pytest.MonkeyPatch) -> None:
    """attack_timings runs a real attack job per attack, each on a fresh model and session (the first also pays
    the process's first-call costs, so the two are not compared)."""
    monkeypatch.setattr(calibrate, "TIMED_ATTACKS", {"fgsm": {}, "bim": {"max_iter": 2}})
    took = calibrate.attack_timings("m1", 0.125)
    assert set(took) == {"fgsm", "bim"} and min(took.values()) > 0
