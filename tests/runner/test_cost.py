"""runner.cost: the pre-submit estimate (pure arithmetic over an expanded grid; no TensorFlow)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from runner import cost
from runner.cli import main
from runner.grid import load_grid

REPO = Path(__file__).resolve().parents[2]


def calibration(tmp_path: Path, **changes: object) -> Path:
    """A small calibration file with round numbers (per-sample costs fall with the batch size)."""
    d = {
        "label": "test numbers", "device": "cpu", "cores": 2, "startup_s": 5.0, "model_load_s": 0.5,
        "data_per_segment_s": 0.001, "features_per_version_s": 0.1, "slurm_task_s": 2.0,
        "models": [
            {"arch": "final", "width": 0.25, "forward_s": {"1": 0.02, "32": 0.004}, "grad_s": {"1": 0.06, "32": 0.012},
             "train_step_s": 0.02, "trace_s": 3.0, "train_trace_s": 4.0},
            {"arch": "final", "width": 0.5, "forward_s": {"1": 0.08, "32": 0.016}, "grad_s": {"1": 0.24, "32": 0.048},
             "train_step_s": 0.08, "trace_s": 3.0, "train_trace_s": 4.0},
        ],
        **changes,
    }
    path = tmp_path / "cal.json"
    path.write_text(json.dumps(d))
    return path


def test_hyperband_schedule_matches_keras_tuner_arithmetic() -> None:
    # max_epochs 2, factor 2: brackets 1 and 0; bracket 1 runs 2 trials x 1 epoch, then 1 trial x 1 more epoch;
    # bracket 0 runs 2 trials x 2 epochs -> 5 trials, 7 epochs. max_trials stops the schedule early.
    assert cost.hyperband_epochs(2, 2, 1, None) == (5, 7)
    assert cost.hyperband_epochs(2, 2, 1, 2) == (2, 2)
    assert cost.hyperband_epochs(2, 2, 3, None) == (15, 21)


def test_attack_evaluations_follow_the_parameters() -> None:
    bim = {k: c for k, c, _ in cost.attack_evals("bim", {"max_iter": 20, "eps": 0.1, "eps_step": 0.1}, 5, 16)}
    assert bim["G"] == 20 * cost.TYPICAL["bim"]
    # PixelAttack: population ~400 whatever th (ART: popsize = 400 // (3 th) times 3 th parameters)
    px = cost.attack_evals("pixel", {"th": 5, "max_iter": 2}, 5, 16)
    assert px[0][2] == 390 and px[0][1] == pytest.approx(390 * (1 + 2 * cost.TYPICAL["pixel"]))
    deep = dict((k, c) for k, c, _ in cost.attack_evals("deepfool", {"max_iter": 5, "nb_grads": 3}, 5, 8))
    assert deep["G"] == pytest.approx((2 + 4 * cost.TYPICAL["deepfool"]) * 3)  # the first iteration always runs
    # PGD: max_iter gradient steps per random restart (0 restarts = one run), a success check per run
    pgd = cost.attack_evals("pgd", {"max_iter": 20, "num_random_init": 3}, 5, 16)
    assert pgd == [("G", 60, 16), ("F", 3, 16)] and cost.TYPICAL["pgd"] == 1.0
    assert cost.attack_evals("pgd", {"max_iter": 20}, 5, 16)[0] == ("G", 20, 16)
    # AutoAttack: the first APGD-CE restart always; the rest of the ensemble x T; targeted: once more per class
    aa = {(k, b): c for k, c, b in cost.attack_evals("autoattack", {}, 5, 16)}
    t = cost.TYPICAL["autoattack"]
    assert aa[("G", 16)] == pytest.approx(100 + (1000 + 101 * 5 - 100) * t)
    tg = cost.attack_evals("autoattack", {"targeted": True}, 5, 16)
    assert tg[-1][1] == pytest.approx(5 * 25000 * t)  # Square: 5 runs (untargeted + 4 targets)
    with pytest.raises(Exception, match="no cost model"):
        cost.attack_evals("nope", {}, 5, 8)


def test_makespan_is_longest_first_on_n_workers() -> None:
    assert cost.makespan([3, 3, 2, 2, 2], 2) == 7  # greedy longest-first (the optimum, 6, needs a search)
    assert cost.makespan([5, 1, 1], 4) == 5
    assert cost.makespan([], 3) == 0


def test_width_between_measured_ones_is_scaled_and_flagged(tmp_path: Path) -> None:
    cal = cost.load_calibration(calibration(tmp_path))
    exact, ok = cal.model("final", 0.5)
    assert ok and exact.train_step_s == 0.08
    mid, ok = cal.model("final", 1.0)  # exponent fitted on 0.25 -> 0.5: cost x4 per doubling
    assert not ok and mid.train_step_s == pytest.approx(0.32)
    assert cost.ModelCost("final", 1, {1: 0.1, 100: 0.001}, {1: 1.0}, 0.1).per_sample("F", 10) == pytest.approx(0.01)


def test_widening_beyond_the_measured_widths_scales_at_least_quadratically(tmp_path: Path) -> None:
    path = calibration(tmp_path)
    raw = json.loads(path.read_text())
    final = [m for m in raw["models"] if m["arch"] == "final"]
    final[0]["train_step_s"], final[1]["train_step_s"] = 0.04, 0.06  # overhead-bound: exponent log2(1.5) = 0.58
    path.write_text(json.dumps(raw))
    cal = cost.load_calibration(path)
    up, ok = cal.model("final", 1.0)  # above the widest measured one: x4 per doubling, not x1.5
    assert not ok and up.train_step_s == pytest.approx(0.06 * 4)
    down, _ = cal.model("final", 0.125)  # below: the fitted exponent
    assert down.train_step_s == pytest.approx(0.04 / 1.5)


def test_estimate_of_the_demo_grid(tmp_path: Path) -> None:
    grid = load_grid(REPO / "grids" / "demo.yaml", [f"output={tmp_path / 'run'}"])
    cal = cost.load_calibration(calibration(tmp_path))
    local = cost.estimate(grid, cal, executor="local")
    assert list(local) == grid.stages and all(e.wall_s > 0 for e in local.values())
    assert all(e.tasks == 1 for e in local.values())  # local: one process per stage
    one = cost.estimate(grid, cal, workers=1, executor="slurm")
    many = cost.estimate(grid, cal, workers=8, executor="slurm")
    assert one["attack"].tasks == len(grid.jobs["attack"])
    assert many["attack"].wall_s < one["attack"].wall_s
    assert many["attack"].worker_s == pytest.approx(one["attack"].worker_s)
    # slurm pays startup + task per job: more worker time than one local process
    assert one["attack"].worker_s > local["attack"].worker_s
    t = cost.totals(one)
    assert t["jobs"] == grid.count()
    assert t["worker_hours"] == pytest.approx(sum(e.worker_s for e in one.values()) / 3600, abs=1e-3)


def test_packing_removes_per_job_overhead_from_the_estimate(tmp_path: Path) -> None:
    cal = cost.load_calibration(calibration(tmp_path))
    plain = load_grid(REPO / "grids" / "demo.yaml", [f"output={tmp_path / 'run'}"])
    packed = load_grid(REPO / "grids" / "demo.yaml", [f"output={tmp_path / 'run'}", "resources.attack={pack: 4}"])
    a = cost.estimate(plain, cal, executor="slurm")["attack"]
    b = cost.estimate(packed, cal, executor="slurm")["attack"]
    assert b.tasks == math.ceil(a.jobs / 4)
    saved = (a.tasks - b.tasks) * (cal.startup_s + cal.slurm_task_s)
    assert a.worker_s - b.worker_s >= saved - 1e-6


def test_store_segments_replace_the_table(tmp_path: Path) -> None:
    from sercore.specs import CorpusSpec, FeatureSettings, FeaturesJob

    job = FeaturesJob(corpus=CorpusSpec(name="synthetic", synthetic_per_class=3),
                      features=FeatureSettings(augment=False))
    assert cost.segments(job) == round(60 * cost.SEGMENTS_PER_VERSION["synthetic"])
    import pandas as pd

    entry = tmp_path / "features" / "synthetic-abc"
    entry.mkdir(parents=True)
    (entry / "settings.json").write_text(json.dumps({"corpus": job.corpus.model_dump(mode="json"),
                                                     "features": job.features.model_dump(mode="json")}))
    pd.DataFrame({"a": range(123)}).to_parquet(entry / "meta.parquet")
    assert cost.segments(job, tmp_path) == 123


def test_cli_estimate_json_and_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    grid = str(REPO / "grids" / "demo.yaml")
    out = f"output={tmp_path / 'run'}"
    assert main(["plan", grid, "--set", out, "--estimate", "--gpus", "4", "--json",
                 "--calibration", str(calibration(tmp_path))]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["workers"] == 4 and set(d["stages"]) == set(load_grid(grid, [out]).stages)
    assert d["total"]["wall_hours"] > 0 and d["calibration"] == "test numbers"
    assert main(["plan", grid, "--set", out, "--estimate"]) == 0  # the shipped calibration, table output
    text = capsys.readouterr().out
    assert "calibration: sertack default: this project's shared 2-core development VM" in text and "total" in text
    assert main(["plan", grid, "--set", out, "--estimate", "--gpus", "0"]) == 2
    bad = tmp_path / "bad.json"
    bad.write_text("{}")
    assert main(["plan", grid, "--set", out, "--estimate", "--calibration", str(bad)]) == 2
    assert "not a calibration file" in capsys.readouterr().err


def test_resynth_adds_two_round_trips_per_checked_sample(tmp_path: Path) -> None:
    from sercore.specs import AttackJob, CorpusSpec, DataSpec, TrainJob

    cal = cost.load_calibration(calibration(tmp_path))
    job = AttackJob(target=TrainJob(data=DataSpec(corpus=CorpusSpec(name="synthetic"))), attack="fgsm", limit=10,
                    chunk_size=4)
    base = cost.job_cost(job, cal, None).work
    checked = 2 + 2 + 2  # the first 2 samples of the chunks of 4, 4 and 2
    with_rs = cost.job_cost(job.model_copy(update={"resynth": 2}), cal, None).work
    assert with_rs - base == pytest.approx(2 * checked * cost.RESYNTH_S)


def test_waveform_jobs_pay_the_quality_metrics_and_per_sample_budgets_run_alone(tmp_path: Path) -> None:
    from sercore.specs import AttackJob, CorpusSpec, DataSpec, TrainJob

    cal = cost.load_calibration(calibration(tmp_path))
    target = TrainJob(data=DataSpec(corpus=CorpusSpec(name="synthetic")))
    wave = {"domain": "waveform", "snr_db": 30.0}
    fgsm = AttackJob(target=target, attack="fgsm", limit=8, chunk_size=8)
    with_q = cost.job_cost(AttackJob(**fgsm.model_dump() | wave), cal, None).work
    assert with_q - cost.job_cost(fgsm, cal, None).work == pytest.approx(8 * cost.QUALITY_S)
    square = AttackJob(target=target, attack="square", limit=8, chunk_size=8)
    alone = cost.job_cost(AttackJob(**square.model_dump() | wave), cal, None).work - 8 * cost.QUALITY_S
    assert alone > cost.job_cost(square, cal, None).work  # one sample at a time costs more than the batched search


def by_batch(tmp_path: Path) -> Path:
    """calibration() with the training step measured per batch size (8: 0.04, 32: 0.01 s per sample at 0.25)."""
    path = calibration(tmp_path)
    d = json.loads(path.read_text())
    for m, k in zip(d["models"], (1, 4), strict=True):
        m["train_s"] = {"8": 0.04 * k, "32": 0.01 * k}
    path.write_text(json.dumps(d))
    return path


def test_train_cost_follows_the_jobs_batch_size(tmp_path: Path) -> None:
    from sercore.specs import CorpusSpec, DataSpec, ModelSpec, TrainJob, TrainSettings

    cal = cost.load_calibration(by_batch(tmp_path))
    assert cal.train_by_batch and cal.notes() == []
    m, _ = cal.model("final", 0.25)
    # log-log between measured sizes (16 is halfway between 8 and 32: the geometric mean), flat outside
    assert (m.per_sample("T", 1), m.per_sample("T", 8), m.per_sample("T", 128)) == (0.04, 0.04, 0.01)
    assert m.per_sample("T", 16) == pytest.approx(0.02)
    wide, exact = cal.model("final", 1.0)  # scaled from 0.5 with the exponent fitted on train_step_s (2 here)
    assert not exact and wide.per_sample("T", 8) == pytest.approx(0.16 * 4)
    job = TrainJob(data=DataSpec(corpus=CorpusSpec(name="synthetic")), model=ModelSpec(width=0.25),
                   train=TrainSettings(epochs=3, batch_size=8))
    tr, va, _ = cost.split_sizes(cost.segments(job.data))
    for batch, step in ((8, 0.04), (32, 0.01)):
        at = job.model_copy(update={"train": TrainSettings(epochs=3, batch_size=batch)})
        # Keras validates at the fit's batch size too
        assert cost.job_cost(at, cal, None).work == pytest.approx(3 * (tr * step + va * m.per_sample("F", batch)))


def test_tune_stage_2_prices_the_mean_of_its_batch_choices(tmp_path: Path) -> None:
    from sercore.specs import CorpusSpec, DataSpec, ModelSpec, TuneJob

    cal = cost.load_calibration(by_batch(tmp_path))
    m, _ = cal.model("final", 0.25)
    data = DataSpec(corpus=CorpusSpec(name="synthetic"))
    tr, va, _ = cost.split_sizes(cost.segments(data))
    job = TuneJob(stage=2, data=data, model=ModelSpec(width=0.25), max_epochs=2, factor=2, hyperband_iterations=1,
                  executions_per_trial=1, batch_size=(8, 32))
    _, epochs = cost.hyperband_epochs(2, 2, 1, None)
    epoch = sum(tr * m.per_sample("T", b) + va * m.per_sample("F", b) for b in (8, 32)) / 2
    assert cost.job_cost(job, cal, None).work == pytest.approx(epochs * epoch)


def test_an_older_calibration_prices_every_batch_at_its_one_step_and_says_so(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = calibration(tmp_path)  # train_step_s only, as `calibrate` wrote before train_s
    cal = cost.load_calibration(path)
    m, _ = cal.model("final", 0.25)
    assert m.per_sample("T", 1) == m.per_sample("T", 8) == m.per_sample("T", 128) == 0.02
    assert not cal.train_by_batch and "training step measured at one batch size only" in cal.notes()[0]
    grid, out = str(REPO / "grids" / "demo.yaml"), f"output={tmp_path / 'run'}"
    assert main(["plan", grid, "--set", out, "--estimate", "--calibration", str(path)]) == 0
    assert "note: " in capsys.readouterr().out
    assert main(["plan", grid, "--set", out, "--estimate", "--calibration", str(by_batch(tmp_path)), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["notes"] == []


def test_a_measured_job_overhead_epoch_overhead_and_xla_step_are_priced(tmp_path: Path) -> None:
    """A file from `calibrate` with fit_s / epoch_s / train_xla_s: a train job pays fit_s once and epoch_s per
    epoch; a fit big enough for sercore.train to turn XLA on (XLA_CPU_MIN_SAMPLE_PASSES) is priced at the XLA
    step with XLA's compilation in place of plain tracing; a features job at its measured fixed + per-version;
    an attack job pays its measured attack_job_s."""
    from sercore.specs import CorpusSpec, DataSpec, FeatureSettings, FeaturesJob, ModelSpec, TrainJob, TrainSettings
    from sercore.train import XLA_CPU_MIN_SAMPLE_PASSES

    path = by_batch(tmp_path)
    d = json.loads(path.read_text())
    for m in d["models"]:
        m |= {"train_xla_s": {"8": 0.02, "32": 0.005}, "train_trace_xla_s": 9.0, "fit_s": 6.0, "epoch_s": 0.5,
              "attack_job_s": 1.5}
    d |= {"features_job_s": 3.0, "features_job_per_version_s": 0.01, "synthetic_per_file_s": 0.05}
    path.write_text(json.dumps(d))
    cal = cost.load_calibration(path)
    m, _ = cal.model("final", 0.25)
    data = DataSpec(corpus=CorpusSpec(name="synthetic"))
    tr, va, _ = cost.split_sizes(cost.segments(data))
    small = TrainJob(data=data, model=ModelSpec(width=0.25), train=TrainSettings(epochs=2, batch_size=32))
    c = cost.job_cost(small, cal, None)
    assert tr * 2 < XLA_CPU_MIN_SAMPLE_PASSES and c.fixed == 6.0
    assert c.work == pytest.approx(2 * (tr * 0.01 + va * m.per_sample("F", 32) + 0.5))
    epochs = -(-XLA_CPU_MIN_SAMPLE_PASSES // tr)
    big = small.model_copy(update={"train": TrainSettings(epochs=epochs, batch_size=32)})
    c = cost.job_cost(big, cal, None)
    assert c.fixed == pytest.approx(6.0 - 4.0 + 9.0)  # fit_s with XLA's compile instead of plain tracing (4 s)
    assert c.work == pytest.approx(epochs * (tr * 0.005 + va * m.per_sample("F", 32) + 0.5))
    plain = big.model_copy(update={"train": TrainSettings(epochs=epochs, batch_size=32, jit_compile=False)})
    assert cost.job_cost(plain, cal, None).fixed == 6.0
    d["models"][0]["fit_xla_s"] = 15.0  # measured with XLA on (every compilation): used as it is
    path.write_text(json.dumps(d))
    with_xla = cost.load_calibration(path)
    assert cost.job_cost(big, with_xla, None).fixed == 15.0 and cost.job_cost(plain, with_xla, None).fixed == 6.0
    feats = FeaturesJob(corpus=CorpusSpec(name="synthetic"), features=FeatureSettings(augment=True))
    files, versions = cost.corpus_files(feats.corpus), cost.versions(feats.features)
    c = cost.job_cost(feats, cal, None)
    assert c.fixed == pytest.approx(3.0 + files * 0.05) and c.work == pytest.approx(files * versions * 0.01 * 2)
    grid = load_grid(REPO / "grids" / "demo.yaml", [f"output={tmp_path / 'run'}"])
    assert {cost.job_cost(j.spec, cal, None).fixed for j in grid.jobs["attack"]} == {1.5}  # all width 0.25
    d["models"][0]["attack_setup_s"] = {"bim": 4.0}  # measured per attack: BIM's own; the others keep 1.5
    path.write_text(json.dumps(d))
    per_attack = cost.load_calibration(path)
    assert {j.spec.attack: cost.job_cost(j.spec, per_attack, None).fixed for j in grid.jobs["attack"]
            if j.spec.attack in ("bim", "fgsm")} == {"bim": 4.0, "fgsm": 1.5}
    est = cost.estimate(grid, cal)["features"]  # work in one-core seconds: divided by the job's 2 cores
    job = grid.jobs["features"][0].spec
    n = cost.corpus_files(job.corpus) * cost.versions(job.features)
    assert est.worker_s == pytest.approx(5.0 + 3.0 + cost.corpus_files(job.corpus) * 0.05 + n * 0.01)


def test_a_features_job_is_priced_by_its_audio_seconds(tmp_path: Path) -> None:
    """With a per-audio-second cost, a corpus of longer files costs more per file version: EmoDB's 2.94-s files
    against the generator's 4-s ones."""
    from sercore.specs import CorpusSpec, FeatureSettings, FeaturesJob

    d = json.loads(calibration(tmp_path).read_text())
    d |= {"features_job_s": 3.0, "features_job_per_version_s": 0.01, "features_job_per_audio_s": 0.002}
    (tmp_path / "cal.json").write_text(json.dumps(d))
    cal = cost.load_calibration(tmp_path / "cal.json")
    aug = FeatureSettings(augment=True)
    for name, root in (("synthetic", None), ("emodb", str(tmp_path))):
        job = FeaturesJob(corpus=CorpusSpec(name=name, root=root), features=aug)
        files = cost.corpus_files(job.corpus)
        # `work` is one-core seconds: the calibrated per-audio cost on its 2 cores, times 2
        want = files * cost.versions(aug) * cost.FILE_S[name] * 0.002 * 2
        assert cost.job_cost(job, cal, None).work == pytest.approx(want)


def test_a_manifest_corpus_is_sized_from_its_rows_and_files(tmp_path: Path) -> None:
    """`plan --estimate` on a bring-your-own corpus: kept rows of its manifest, the mean length of its files (read
    from their headers), EmoDB's segments per version until its store is built."""
    import numpy as np
    import soundfile as sf

    from sercore.specs import CorpusSpec, FeatureSettings, FeaturesJob

    rows = []
    for i, (emotion, seconds) in enumerate([("anger", 1.0), ("sadness", 2.0), ("fear", 3.0), ("anger", 3.0)]):
        sf.write(tmp_path / f"f{i}.wav", np.zeros(int(seconds * 16000), np.float32) + 0.01, 16000)
        rows.append(f"f{i}.wav,{emotion},s{i % 2},{'female' if i % 2 else 'male'}")
    (tmp_path / "toy.csv").write_text("\n".join(["path,emotion,speaker,gender", *rows]) + "\n")
    corpus = CorpusSpec(name="toy", manifest=str(tmp_path / "toy.csv"), root=str(tmp_path),
                        emotions=["anger", "sadness"])
    size = cost.corpus_size(corpus)
    assert (size.files, size.file_s) == (3, pytest.approx(2.0))  # fear is not kept
    job = FeaturesJob(corpus=corpus, features=FeatureSettings(augment=False))
    assert cost.segments(job) == round(3 * cost.MANIFEST_SEGMENTS_PER_VERSION)
    assert cost.job_cost(job, cost.load_calibration(calibration(tmp_path)), None).work > 0


def test_measured_trial_costs_price_a_search_and_eager_calls_a_transfer_job(tmp_path: Path) -> None:
    """A file with tune_job_s / trial_s prices a Hyperband search at its one-off cost plus one per trial (a file
    without them: a training job's fit overhead per trial); one with eager_s prices a transfer job at eager calls
    of TRANSFER_BATCH samples, clean and adversarial, and its first call in place of tracing."""
    from sercore.specs import AttackJob, CorpusSpec, DataSpec, ModelSpec, TrainJob, TransferJob, TuneJob

    path = by_batch(tmp_path)
    before = cost.load_calibration(path)
    d = json.loads(path.read_text())
    for m in d["models"]:
        m |= {"tune_job_s": 2.0, "trial_s": 7.0, "eager_s": {"1": 0.1, "128": 0.002}, "eager_trace_s": 0.25}
    path.write_text(json.dumps(d))
    cal = cost.load_calibration(path)
    data = DataSpec(corpus=CorpusSpec(name="synthetic"))
    tune = TuneJob(stage=2, data=data, model=ModelSpec(width=0.25), max_epochs=2, factor=2, hyperband_iterations=1,
                   executions_per_trial=2)
    trials, _ = cost.hyperband_epochs(2, 2, 1, None)
    assert cost.job_cost(tune, cal, None).fixed == pytest.approx(2.0 + trials * 2 * 7.0)
    per_fit = before.model("final", 0.25)[0].fit_fixed(True)
    assert cost.job_cost(tune, before, None).fixed == pytest.approx(trials * 2 * per_fit)
    target = TrainJob(data=data, model=ModelSpec(width=0.25))
    attacks = tuple(AttackJob(target=target, attack="fgsm", params={"eps": e}) for e in (0.1, 0.2))
    job = TransferJob(attacks=attacks, target=target.model_copy(update={"model": ModelSpec(width=0.5)}))
    m, _ = cal.model("final", 0.5)
    n = cost.attack_samples(attacks[0], cost.split_sizes(cost.segments(data))[2])
    calls = [min(cost.TRANSFER_BATCH, n - i) for i in range(0, n, cost.TRANSFER_BATCH)] * 2
    c = cost.job_cost(job, cal, None)
    assert c.work == pytest.approx(2 * sum(b * m.per_sample("E", b) for b in calls)) and c.trace == 0.25
    assert cost.job_cost(job, before, None).trace == before.model("final", 0.5)[0].trace_s
