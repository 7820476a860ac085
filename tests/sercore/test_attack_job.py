"""Attack jobs on a tiny trained model: complete rows, bounds, slicing, resume, examples, errors."""

from __future__ import annotations

import functools
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from sercore import attack_job
from sercore.attack_job import attack_prepared, chunk_plan, run_attack, summarize
from sercore.attacks import ATTACKS, validate_params
from sercore.env import JobEnv
from sercore.errors import JobError
from sercore.specs import AttackJob
from tests.sercore.attack_fixtures import SHAPE, save_upstream, target_job, toy

# Cheap settings for a 3-class toy model (the paper's values are the defaults; these only shorten the loops).
CHEAP = {
    "fgsm": {"eps": 0.75},
    "bim": {"eps": 0.75, "max_iter": 10},
    "deepfool": {"max_iter": 5},
    "jsma": {"theta": 1.0, "gamma": 0.2},
    "cw_l2": {"binary_search_steps": 2, "max_iter": 10, "initial_const": 10.0, "learning_rate": 0.1},
    "cw_linf": {"max_iter": 5, "learning_rate": 0.1, "decrease_factor": 0.5, "largest_const": 1.0},
    "pixel": {"th": 3, "max_iter": 2},
    "boundary": {"max_iter": 5, "init_size": 20},
}
GRADIENT = ("fgsm", "bim", "deepfool", "jsma", "cw_l2", "cw_linf")
SAMPLE_COLS = ["sample", "path", "speaker", "gender", "emotion", "y_true", "y_clean", "y_adv", "loss_adv",
               "perturbation", "l0", "l2", "linf", "grad_flag", "stochastic"]
JOB_COLS = ["attack", "params", "dataset", "language", "protocol", "seed", "arch", "model_id", "slice", "slices",
            "labels", "estimator", "generate_s", "samples_per_s"]
RESULT_COLS = ["sample", "y_adv", "loss_adv", "perturbation", "l0", "l2", "linf"]


def fake_prepare(monkeypatch: pytest.MonkeyPatch, data) -> None:
    """run_attack sees `data`; its data cache is a fresh one, dropped after the test."""
    fresh = functools.lru_cache(maxsize=1)(attack_job._prepare_once.__wrapped__)
    monkeypatch.setattr(attack_job, "_prepare_once", fresh)
    monkeypatch.setattr("sercore.data.prepare", lambda spec, cache_dir: data)


def job(attack: str, **kw) -> AttackJob:
    opts = {"limit": 8, "chunk_size": 4, "batch_size": 8, "params": CHEAP[attack]} | kw
    return AttackJob(target=target_job(), attack=attack, **opts)


@pytest.mark.parametrize("name", list(CHEAP))
def test_each_attack_gives_complete_rows(tmp_path: Path, name: str) -> None:
    data, model = toy()
    spec = job(name)
    rows = attack_prepared(spec, data, model, tmp_path)
    assert len(rows) == 8 and list(rows["sample"]) == list(range(8))
    for col in SAMPLE_COLS + JOB_COLS:
        assert col in rows, col
    assert not rows[SAMPLE_COLS].isna().any().any()
    assert (rows["y_true"] == data.y_test[:8]).all()
    full = validate_params(name, spec.params.given())
    assert json.loads(rows["params"].iloc[0]) == full  # every parameter, once: no param_<name> copies
    assert not [c for c in rows if c.startswith("param_")]
    assert rows["generate_s"].iloc[0] > 0 and rows["samples_per_s"].iloc[0] > 0
    s = summarize(rows)
    if ATTACKS[name].norm_bound == "linf":
        assert rows["linf"].max() <= full["eps"] + 1e-5
    if name in GRADIENT:
        assert s["accuracy"] < s["clean"], s
    assert set(rows["grad_flag"]) == {"ok"} and not rows["stochastic"].any()  # a healthy, deterministic model
    ex = np.load(tmp_path / "examples.npz")
    assert ex["clean"].shape == ex["adversarial"].shape == (2, *SHAPE[:2])
    assert set(ex["gender"]) == {"female", "male"}
    assert np.array_equal(ex["y_adv"], rows.set_index("sample").loc[ex["sample"], "y_adv"].to_numpy())


def test_perturbation_is_the_paper_mean_abs_difference(tmp_path: Path) -> None:
    data, model = toy()
    rows = attack_prepared(job("fgsm", examples=8), data, model, tmp_path)
    ex = np.load(tmp_path / "examples.npz")
    d = ex["adversarial"] - ex["clean"]
    by = rows.set_index("sample").loc[ex["sample"]]
    assert np.allclose(by["perturbation"], np.abs(d).mean(axis=(1, 2)), rtol=1e-5)
    assert np.allclose(by["linf"], np.abs(d).max(axis=(1, 2)), rtol=1e-5)
    assert np.allclose(by["l2"], np.sqrt((d.astype(np.float64) ** 2).sum(axis=(1, 2))), rtol=1e-5)


@pytest.mark.parametrize("name", ["boundary"])  # stochastic: the hard case
def test_slices_recombine_into_the_unsliced_result(tmp_path: Path, name: str) -> None:
    data, model = toy()
    whole = attack_prepared(job(name, limit=10, chunk_size=2), data, model, tmp_path / "whole")
    parts = [attack_prepared(job(name, limit=10, chunk_size=2, slices=3, slice=k), data, model, tmp_path / f"s{k}")
             for k in range(3)]
    assert [len(p) for p in parts] == [4, 4, 2]
    joined = pd.concat(parts, ignore_index=True)
    pd.testing.assert_frame_equal(joined[RESULT_COLS], whole[RESULT_COLS])


def test_chunk_plan_slices_are_contiguous_runs_of_whole_chunks() -> None:
    spec = job("fgsm", limit=10, chunk_size=3, slices=2, slice=1)
    assert [(c, list(i)) for c, i in chunk_plan(100, spec)] == [(2, [6, 7, 8]), (3, [9])]
    assert chunk_plan(100, job("fgsm", limit=4, chunk_size=4, slices=2, slice=1)) == []


def test_resumed_job_gives_the_same_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data, model = toy()
    spec = job("boundary", limit=8, chunk_size=2)
    straight = attack_prepared(spec, data, model, tmp_path / "straight")

    real_run = attack_job._Attacker.run
    calls = {"n": 0}

    def dies_on_third_chunk(self, x, y, chunk):
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt("killed")
        return real_run(self, x, y, chunk)

    monkeypatch.setattr(attack_job._Attacker, "run", dies_on_third_chunk)
    with pytest.raises(KeyboardInterrupt):
        attack_prepared(spec, data, model, tmp_path / "resumed")
    assert len(list((tmp_path / "resumed" / "chunks").glob("chunk-*.parquet"))) == 2
    monkeypatch.setattr(attack_job._Attacker, "run", real_run)
    calls["n"] = 0
    resumed = attack_prepared(spec, data, model, tmp_path / "resumed")
    pd.testing.assert_frame_equal(resumed[RESULT_COLS], straight[RESULT_COLS])
    # the two finished chunks were reused, not recomputed: their timing rows are the first run's
    assert (resumed["chunk_generate_s"].iloc[:4].to_numpy() > 0).all()


def test_chunks_of_another_job_are_discarded(tmp_path: Path) -> None:
    data, model = toy()
    attack_prepared(job("fgsm"), data, model, tmp_path)
    rows = attack_prepared(job("fgsm", params={"eps": 0.25}), data, model, tmp_path)
    assert rows["linf"].max() <= 0.25 + 1e-5


def test_true_labels_setting_attacks_the_truth(tmp_path: Path) -> None:
    data, model = toy()
    rows = attack_prepared(job("deepfool", labels="true"), data, model, tmp_path)
    assert (rows["labels"] == "true").all() and summarize(rows)["accuracy"] < 1.0


def test_stock_estimator_gives_the_same_rows(tmp_path: Path) -> None:
    data, model = toy()
    a = attack_prepared(job("jsma", limit=4), data, model, tmp_path / "compiled")
    b = attack_prepared(job("jsma", limit=4, estimator="stock"), data, model, tmp_path / "stock")
    pd.testing.assert_series_equal(a["y_adv"], b["y_adv"])
    assert np.allclose(a["perturbation"], b["perturbation"], atol=1e-6)


def test_run_attack_loads_the_upstream_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data, model = toy()
    up = save_upstream(model, data, tmp_path / "train")
    fake_prepare(monkeypatch, data)
    rows = run_attack(job("fgsm"), tmp_path / "attack", JobEnv(cache_dir=tmp_path, upstream=up))
    direct = attack_prepared(job("fgsm"), data, model, tmp_path / "direct")
    pd.testing.assert_frame_equal(rows[RESULT_COLS], direct[RESULT_COLS])


def test_run_attack_without_a_model_says_where_it_looked(tmp_path: Path) -> None:
    with pytest.raises(JobError, match="model.keras: trained model not found"):
        run_attack(job("fgsm"), tmp_path / "w", JobEnv(cache_dir=tmp_path, upstream=tmp_path / "nothing"))
    with pytest.raises(JobError, match="upstream is None"):
        run_attack(job("fgsm"), tmp_path / "w", JobEnv(cache_dir=tmp_path))


def test_scaler_mismatch_is_caught(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    data, model = toy()
    up = save_upstream(model, data, tmp_path / "train")
    other = SimpleNamespace(**vars(data) | {"clip_values": (-9.0, 9.0)})
    fake_prepare(monkeypatch, other)
    with pytest.raises(JobError, match="clip values"):
        run_attack(job("fgsm"), tmp_path / "attack", JobEnv(cache_dir=tmp_path, upstream=up))


def test_cli_attacks_a_train_folder_and_prints_gender_accuracy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from sercore import io
    from sercore.cli.main import main

    data, model = toy()
    up = save_upstream(model, data, tmp_path / "train")
    io.write_json(up / "summary.json", {"job": target_job().model_dump(mode="json")})
    fake_prepare(monkeypatch, data)
    code = main(["attack", str(up), "--attacks", "fgsm,deepfool", "--limit", "6", "--set", "fgsm.eps=0.75",
                 "--out", str(tmp_path / "out")])
    out = capsys.readouterr().out
    assert code == 0
    header, fgsm, deepfool = out.splitlines()[:3]
    assert header.split()[:6] == ["attack", "n", "clean", "adv", "male", "female"]
    assert fgsm.split()[:2] == ["fgsm", "6"] and '{"eps": 0.75}' in fgsm
    assert deepfool.split()[0] == "deepfool"
    table = pd.read_parquet(tmp_path / "out" / "attacks.parquet")
    assert sorted(table["attack"].unique()) == ["deepfool", "fgsm"] and len(table) == 12


def test_cli_set_is_checked_like_a_grid() -> None:
    from sercore.cli.attack import cli_params
    from sercore.errors import ConfigError

    assert cli_params(["bim"], ["bim.max_iter=5"])["bim"].kwargs()["max_iter"] == 5
    with pytest.raises(ConfigError, match="max_iter: must be a valid integer"):
        cli_params(["bim"], ["bim.max_iter=five"])
    with pytest.raises(ConfigError, match="expected ATTACK.PARAM=VALUE"):
        cli_params(["bim"], ["fgsm.eps=1"])


def test_sample_ids_are_stable_across_jobs_and_slices(tmp_path: Path) -> None:
    """Worst-case robustness and transfer join attack rows of different jobs on `sample` (one model) and
    `segment` (any model of the corpus): both must name the same test sample in every job and slice."""
    data, model = toy()
    frames = [attack_prepared(job("fgsm"), data, model, tmp_path / "fgsm"),
              attack_prepared(job("deepfool"), data, model, tmp_path / "deepfool"),
              *[attack_prepared(job("fgsm", params={"eps": 0.25}, slices=2, slice=k), data, model, tmp_path / f"s{k}")
                for k in range(2)]]
    ident = ["sample", "segment", "recording", "path", "speaker", "gender", "y_true", "y_clean"]
    first = frames[0][ident].sort_values("sample").reset_index(drop=True)
    for other in frames[1:2]:
        pd.testing.assert_frame_equal(other[ident].sort_values("sample").reset_index(drop=True), first)
    sliced = pd.concat(frames[2:], ignore_index=True)[ident].sort_values("sample").reset_index(drop=True)
    pd.testing.assert_frame_equal(sliced, first)
    meta = data.meta_test
    assert (first.segment.to_numpy() == meta.segment.to_numpy()[first["sample"]]).all()


def test_adversarial_deltas_are_kept_per_chunk(tmp_path: Path) -> None:
    data, model = toy()
    rows = attack_prepared(job("fgsm"), data, model, tmp_path)
    chunk_dir = tmp_path / "chunks"
    for c in sorted(rows.chunk.unique()):
        with np.load(attack_job.delta_path(chunk_dir, c)) as npz:
            sample, delta = npz["sample"], npz["delta"]
        assert delta.dtype == np.float16 and delta.shape == (len(sample), *SHAPE[:2])
        assert sorted(sample) == sorted(rows[rows.chunk == c]["sample"])
        # FGSM moves each cell by at most eps (0.75), clipping may shorten it
        assert np.abs(delta.astype(np.float32)).max() <= 0.75 + 1e-3
        per_cell = np.abs(delta.astype(np.float64)).reshape(len(sample), -1).mean(axis=1)
        by = rows.set_index("sample").loc[sample]
        assert np.allclose(per_cell, by.perturbation, rtol=2e-3)  # the float16 delta is the row's perturbation


def test_gradient_flags_name_the_first_problem() -> None:
    from sercore.attack_job import gradient_flags

    g = np.ones((5, 2, 3), np.float32)
    g[1] = 0
    g[2, 0, 0] = np.nan
    g[3, 1, 2] = np.inf
    g[4, 0, 0], g[4, 0, 1] = np.nan, np.inf
    assert gradient_flags(g).tolist() == ["ok", "zero", "nan", "inf", "nan"]
