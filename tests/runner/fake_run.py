"""A small hand-made run folder that follows docs/contracts.md, for the reducer and report tests.

Specs are real `sercore.specs` models, so plan lines and job ids look exactly like the runner's. Values come from
a seeded generator, so the golden tables are stable. Two datasets, two seeds, four attacks (FGSM with two
slices, a BIM sweep whose accuracies tie, one-setting C&W L2, JSMA), all four study/tune stages.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from runner.paths import RunPaths
from sercore.io import write_npz, write_parquet, write_text
from sercore.specs import AttackJob, CorpusSpec, DataSpec, FeaturesJob, ModelSpec, TrainJob, TuneJob

DATASETS = ("emodb", "emovo")
SEEDS = (0, 1)
CLASSES = ("boredom", "disgust", "happiness", "neutral", "sadness")
ATTACKS = {  # attack -> (list of params, slices)
    "fgsm": ([{"eps": 0.25}, {"eps": 0.5}], 2),
    "bim": ([{"eps": 0.25, "eps_step": 0.1}, {"eps": 0.5, "eps_step": 0.1}], 1),
    "cw_l2": ([{"initial_const": 0.01}], 1),
    "jsma": ([{"theta": -1.0}, {"theta": 1.0}], 1),
}
N_TEST = 12
PROTOCOLS_DEFAULT = ("paper",)


def _corpus(name: str) -> CorpusSpec:
    return CorpusSpec(name=name, root=f"/data/{name}")


def _job_cols(job_id: str, stage: str, k: int) -> dict:
    return {"job_id": job_id, "stage": stage, "host": f"node{k % 2}", "device": "NVIDIA H100" if k % 2 else "cpu",
            "container": "/images/sertack-0123456789ab.sif" if k % 2 else "",
            "image_hash": "0123456789ab" if k % 2 else "",
            "finished_at": f"2026-11-24T1{k % 10}:00:00+00:00"}


def _plan(paths: RunPaths, stage: str, entries: list[dict]) -> None:
    write_text(paths.plan(stage), "".join(json.dumps(e, separators=(",", ":")) + "\n" for e in entries))


def _train_row(job: TrainJob, rng: np.random.Generator) -> dict:
    acc_m, acc_f = rng.uniform(0.7, 0.95, 2).round(4)
    if job.study == "final":  # attacked models come with per-sample predictions: make the row agree with them
        acc_m, acc_f = round(round(acc_m * 6) / 6, 4), round(round(acc_f * 6) / 6, 4)
    comp = {e: {"male": 1 + i, "female": 2 + i} for i, e in enumerate(CLASSES)}
    return {"study": job.study, "dataset": job.data.corpus.name, "language": "de", "protocol": job.data.protocol,
            "seed": job.data.seed, "arch": job.model.arch, "width": job.model.width,
            "normalization": job.data.normalization, "standardize": job.data.standardize,
            "dropout": 0.3, "lstm_dropout": 0.2, "lstm_units": 256, "learning_rate": 1e-3, "batch_size": 32,
            "n_params": {"final": 3960389, "m0": 1000, "m1": 2000}.get(job.model.arch, 5000), "epochs_run": 12,
            "best_epoch": 8, "train_s": 30.0, "n_train": 100, "n_val": 25, "n_test": N_TEST, "n_test_male": 6,
            "n_test_female": 6, "loss": 0.5, "accuracy": round((acc_m + acc_f) / 2, 4), "accuracy_male": acc_m,
            "accuracy_female": acc_f, "classes": json.dumps(CLASSES), "confusion": json.dumps([[1] * 5] * 5),
            "test_composition": json.dumps(comp)}


def _predictions(path: Path, row: dict) -> None:
    """A train job's predictions.parquet: samples alternate male/female; the first k of each gender are right."""
    samples = np.arange(N_TEST)
    gender = np.where(samples % 2 == 0, "male", "female")
    y_true = samples % 5
    rank = samples // 2  # position within its gender
    right = np.where(gender == "male", rank < round(row["accuracy_male"] * 6), rank < round(row["accuracy_female"] * 6))
    write_parquet(pd.DataFrame({"sample": samples, "path": [f"f{s}.wav" for s in samples], "speaker": samples % 4,
                                "gender": gender, "emotion": [CLASSES[i] for i in y_true], "segment": samples + 100,
                                "y_true": y_true, "y_pred": np.where(right, y_true, (y_true + 1) % 5)}), path)


def _attack_rows(job: AttackJob, rng: np.random.Generator, tie: bool) -> pd.DataFrame:
    samples = np.arange(job.slice, N_TEST, job.slices)
    n = len(samples)
    y_true = samples % 5
    y_clean = np.where(samples % 4 == 0, (y_true + 1) % 5, y_true)
    given = job.params.given()
    strength = float(next(iter(given.values()))) if given else 1.0
    # BIM: a fixed prediction pattern for every eps, so accuracies tie and perturbation breaks the tie.
    flip = (samples % 3 != 0) if tie else rng.random(n) < min(0.9, 0.3 + abs(strength) / 2)
    y_adv = np.where(flip, (y_true + 2) % 5, y_clean)
    pert = np.abs(rng.normal(abs(strength) * 0.8, 0.05, n))
    row = {"sample": samples, "segment": samples + 100, "path": [f"f{s}.wav" for s in samples], "speaker": samples % 4,
           "gender": np.where(samples % 2 == 0, "male", "female"), "emotion": [CLASSES[i] for i in y_true],
           "y_true": y_true, "y_clean": y_clean, "y_adv": y_adv, "loss_adv": rng.uniform(0.5, 3.0, n),
           "perturbation": pert, "l0": 100, "l2": pert * 10, "linf": pert * 3, "attack": job.attack,
           "params": json.dumps(given), "dataset": job.target.data.corpus.name, "language": "de",
           "protocol": job.target.data.protocol, "seed": job.target.data.seed, "arch": "final",
           "model_id": job.target.job_id, "slice": job.slice, "slices": job.slices, "labels": job.labels,
           "estimator": job.estimator, "generate_s": round(float(rng.uniform(1, 5)), 3), "samples_per_s": 3.0}
    return pd.DataFrame(row)


def _examples(path: Path, rng: np.random.Generator) -> None:
    # Smooth stripes (a harmonic-like pattern) rather than noise: realistic enough, and the PNGs stay small.
    t, f = np.meshgrid(np.arange(261), np.arange(128), indexing="ij")
    base = np.sin(f / 6.0 + rng.uniform(0, 3)) * np.cos(t / 40.0)
    clean = np.stack([base, base[::-1]]).astype("float32")
    adv = clean + 0.2 * np.sign(np.sin(t / 9.0 + f / 13.0)).astype("float32")
    write_npz(path, clean=clean, adversarial=adv, sample=np.array([0, 1]), gender=np.array(["male", "female"]),
              y_true=np.array([0, 1]), y_clean=np.array([0, 1]), y_adv=np.array([2, 3]))


def make_run(root: Path, *, protocols: tuple[str, ...] = PROTOCOLS_DEFAULT, checks: bool = False) -> RunPaths:
    """Write the fake run under `root`; returns its paths. `checks`: one unbounded-check PGD job per attacked model
    too (written last, so the other shards' values do not change)."""
    paths = RunPaths(root)
    rng = np.random.default_rng(1234)
    write_text(paths.grid, "name: fake\n")
    k = 0
    feats = [FeaturesJob(corpus=_corpus(d)) for d in DATASETS]
    _plan(paths, "features", [{"id": j.job_id, "stage": "features", "spec": j.model_dump(mode="json"),
                               "upstream": None} for j in feats])
    for j in feats:
        k += 1
        write_parquet(pd.DataFrame({"dataset": j.corpus.name, "path": ["a.wav", "b.wav"], "speaker": ["03", "08"],
                                    "gender": ["male", "female"], "emotion": "sadness", "kept": [True, False],
                                    "reason": [None, "too short"], "n_segments": [9, 0], "duration_s": [2.5, 0.1],
                                    **_job_cols(j.job_id, "features", k)}), paths.shard("features", j.job_id))
    studies = {"norm_study": [("original", True, "final"), ("norm_sum", False, "final")],
               "arch_study": [("original", True, "m0"), ("original", True, "m1")]}
    for stage, variants in studies.items():
        entries = []
        for d in DATASETS:
            for norm, std, arch in variants:
                for seed in SEEDS:
                    job = TrainJob(study="norm" if stage == "norm_study" else "arch", model=ModelSpec(arch=arch),
                                   data=DataSpec(corpus=_corpus(d), normalization=norm, standardize=std, seed=seed))
                    entries.append({"id": job.job_id, "stage": stage, "spec": job.model_dump(mode="json"),
                                    "upstream": None})
                    k += 1
                    write_parquet(pd.DataFrame([{**_train_row(job, rng), **_job_cols(job.job_id, stage, k)}]),
                                  paths.shard(stage, job.job_id))
        _plan(paths, stage, entries)
    tune_entries = []
    for d in DATASETS:
        for stage in (1, 2):
            job = TuneJob(stage=stage, data=DataSpec(corpus=_corpus(d)))
            tune_entries.append({"id": job.job_id, "stage": "tune", "spec": job.model_dump(mode="json"),
                                 "upstream": None})
            k += 1
            trials = [{"lstm_units": u, "dropout": 0.2, "lstm_dropout": 0.2, "learning_rate": 1e-3,
                       "batch_size": 32} for u in (64, 128, 256)] if stage == 1 else \
                [{"lstm_units": 256, "dropout": dr, "lstm_dropout": 0.2, "learning_rate": lr, "batch_size": bs}
                 for dr, lr, bs in ((0.0, 1e-3, 32), (0.3, 1e-4, 8), (0.6, 1e-3, 128))]
            scores = rng.uniform(0.3, 0.9, len(trials)).round(4)
            rows = [{"dataset": d, "protocol": "paper", "seed": 0, "tune_stage": stage, "trial_id": f"{i:02d}",
                     "status": "COMPLETED", "score": s, **t, "epochs": 8, "best": bool(s == scores.min()),
                     **_job_cols(job.job_id, "tune", k)} for i, (t, s) in enumerate(zip(trials, scores, strict=True))]
            write_parquet(pd.DataFrame(rows), paths.shard("tune", job.job_id))
    _plan(paths, "tune", tune_entries)
    train_entries, attack_entries = [], []
    for protocol in protocols:
        for d in DATASETS:
            for seed in SEEDS:
                target = TrainJob(data=DataSpec(corpus=_corpus(d), seed=seed, protocol=protocol))
                train_entries.append({"id": target.job_id, "stage": "train",
                                      "spec": target.model_dump(mode="json"), "upstream": None})
                k += 1
                train_row = _train_row(target, rng)
                write_parquet(pd.DataFrame([{**train_row, **_job_cols(target.job_id, "train", k)}]),
                              paths.shard("train", target.job_id))
                _predictions(paths.artefacts("train", target.job_id) / "predictions.parquet", train_row)
                scaler = paths.artefacts("train", target.job_id) / "scaler.npz"
                write_npz(scaler, mean=np.full((261, 128), 60.0, "float32"), std=np.full((261, 128), 10.0, "float32"),
                          clip_min=np.array(-5.0), clip_max=np.array(7.0), classes=np.array(CLASSES))
                for attack, (grid, slices) in ATTACKS.items():
                    for params in grid:
                        for sl in range(slices):
                            job = AttackJob(target=target, attack=attack, params=params, slices=slices, slice=sl)
                            attack_entries.append({"id": job.job_id, "stage": "attack",
                                                   "spec": job.model_dump(mode="json"), "upstream": target.job_id})
                            k += 1
                            rows = _attack_rows(job, rng, tie=attack == "bim")
                            for col, val in _job_cols(job.job_id, "attack", k).items():
                                rows[col] = val
                            write_parquet(rows, paths.shard("attack", job.job_id))
                            _examples(paths.artefacts("attack", job.job_id) / "examples.npz", rng)
    _plan(paths, "train", train_entries)
    if checks:
        attack_entries += _check_jobs(paths, [TrainJob.model_validate(e["spec"]) for e in train_entries], rng, k)
    _plan(paths, "attack", attack_entries)
    return paths


def _check_jobs(paths: RunPaths, targets: list[TrainJob], rng: np.random.Generator, k: int) -> list[dict]:
    """Unbounded-check jobs (AttackJob.check) on every target, changing no prediction (every right sample stays)."""
    entries = []
    for target in targets:
        job = AttackJob(target=target, attack="pgd", params={"eps": 100.0, "max_iter": 20}, check="unbounded",
                        examples=0)
        entries.append({"id": job.job_id, "stage": "attack", "spec": job.model_dump(mode="json"),
                        "upstream": target.job_id})
        k += 1
        rows = _attack_rows(job, rng, tie=False)
        rows = rows.assign(check="unbounded", y_adv=rows.y_clean)  # a masked model: the attack moved nothing
        for col, val in _job_cols(job.job_id, "attack", k).items():
            rows[col] = val
        write_parquet(rows, paths.shard("attack", job.job_id))
    return entries


def attack_ids(paths: RunPaths) -> list[str]:
    return [json.loads(line)["id"] for line in paths.plan("attack").read_text().splitlines()]
