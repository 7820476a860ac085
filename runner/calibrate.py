"""`python -m runner calibrate`: measure, once per machine, the unit costs the cost model (runner/cost.py) needs.

    python -m runner calibrate [--grid G]... [--models final:0.25,m0:0.5] [--batches 1,8,32,128] [--out FILE]

Measured here, in this process unless said otherwise, on seeded synthetic (261, 128, 1) inputs:
- startup_s: a fresh interpreter importing TensorFlow, Keras, ART and sercore's job modules (a subprocess);
- features_per_version_s: `sercore.extraction.extract` of generated utterances with the paper's 8 augmentations,
  per (file x version), one core;
- data_per_segment_s: `sercore.data.prepare` on a small built store, per segment (unless quick: replaced by its
  first call on the features job's largest store, ~2,000 segments);
- model_load_s: `keras.models.load_model` of a saved final model;
- features_job_s, features_job_per_version_s, features_job_per_audio_s, synthetic_per_file_s: a features job as
  the worker runs it (`sercore.store.open_store` on every core) on three generated corpora, fitted as fixed + per
  file version, and per second of audio and version (the cost model's: EmoDB's 2.9-s files cost less per file than
  the generator's 4-s ones);
- per (arch, width): forward and forward+backward seconds per sample with the compiled estimator at each batch
  size (warm: after tracing), trace_s (first call minus a warm one), eager_s and eager_trace_s: the same for an
  eager call of the Keras model (transfer jobs), and a training step per sample at each batch
  size (`train_s`: Keras fit over whole batches, the fastest warm epoch, plain TF; `train_xla_s` the same with
  XLA, which sercore.train turns on on a CPU for big fits and Keras Tuner's trials use; `train_step_s` is
  `train_s` at batch 32, what files before `train_s` held); fit_s and epoch_s: a real training job's own costs
  beyond the per-sample step (sercore.train's fit, predict and save, run for 1 and 4 epochs); fit_xla_s: the same
  job's fixed seconds with XLA, its sets ending in short batches (a compilation per function and batch shape); for
  M1 and the
  final model tune_job_s and trial_s: a Hyperband search's one-off and per-trial costs beyond its epochs' steps
  (sercore.tune in a fresh interpreter, 1 then 2 trials). `--grid` adds every
  (arch, width) a grid trains or attacks.
The JSON (default `calibration.json`) names the machine and the load average it was measured under.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from .cost import TRAIN_BATCH, interpolate
from .cost import versions as n_versions

SHAPE = (261, 128, 1)
# Per timed training epoch at each batch size (see train_samples). 32 samples gave batch 8 / batch 32 ratios from
# 0.9 to 2.2 on a loaded 2-core VM; 128 gave 1.18 where the real fit measured 1.09. QUICK: gpu_check --size tiny.
TRAIN_STEPS, TRAIN_SAMPLES, QUICK_TRAIN_SAMPLES = 2, 128, 32
# fit_costs' small real training job: training and validation (= test) samples, and its longer run's epochs.
FIT_TRAIN, FIT_VAL, FIT_EPOCHS = 64, 16, 4
# fit_xla_timing's sets: a full batch of 32 and a short one of 8 each, so both functions compile for two shapes.
FIT_XLA_TRAIN, FIT_XLA_VAL = 72, 40
# features_job_costs' corpora, files per class (x 4 speakers x 5 emotions). The slope comes from the two largest:
# two corpora of 20 and 60 files fitted 1.3-8 ms per version on the idle dev VM (a pool's start-up swamps 40
# files' difference); 40 and 160 fitted 7.5-7.7 ms. The smallest gives the fixed part.
FEATURES_SIZES = (1, 2, 8)
# attack_setup_s: the attacks timed (every one a softmax model takes) at small loop bounds, on ATTACK_SAMPLES
# samples in chunks of ATTACK_CHUNK.
TIMED_ATTACKS: dict[str, dict[str, Any]] = {
    "fgsm": {}, "bim": {"max_iter": 2}, "pgd": {"max_iter": 2}, "deepfool": {"max_iter": 1}, "jsma": {"gamma": 0.01},
    "cw_l2": {"binary_search_steps": 1, "max_iter": 2}, "cw_linf": {"max_iter": 2}, "pixel": {"th": 1, "max_iter": 1},
    "boundary": {"max_iter": 1, "num_trial": 1, "sample_size": 2, "init_size": 2}, "square": {"max_iter": 2},
}
ATTACK_SAMPLES, ATTACK_CHUNK = 8, 4
CLASSES = 5  # random_prepared: the synthetic corpus's five
# tune_costs: the archs Hyperband trains (stage 1 M1, stage 2 the final model) and the trials of its two searches.
TUNED_ARCHS, TUNE_TRIALS = ("m1", "final"), (1, 2)
DEFAULT_MODELS = (("final", 0.25), ("final", 0.5), ("final", 1.0), ("m0", 0.25), ("m1", 0.25))
IMPORTS = ("import tensorflow, keras, art.estimators.classification, sercore.attack_job, sercore.estimator, "
           "sercore.train")


def grid_models(grid: Any) -> list[tuple[str, float]]:
    """(arch, width) of every model a grid trains, tunes or attacks (tune stage 1 trains M1)."""
    from sercore.specs import AttackJob, TrainJob, TuneJob

    model_of: dict[type, Callable[[Any], tuple[str, float]]] = {
        TrainJob: lambda s: (s.model.arch, s.model.width),
        TuneJob: lambda s: ("m1" if s.stage == 1 else "final", s.model.width),
        AttackJob: lambda s: (s.target.model.arch, s.target.model.width),
    }
    found = [model_of[type(j.spec)](j.spec) for jobs in grid.jobs.values() for j in jobs if type(j.spec) in model_of]
    return list(dict.fromkeys(found))


def startup_s(reps: int = 2) -> float:
    """Fastest of `reps` fresh interpreters importing what every job imports."""
    best = float("inf")
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    for _ in range(reps):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-c", IMPORTS], check=True, env=env, capture_output=True)
        best = min(best, time.perf_counter() - t0)
    return best


def _best(fn: Any, reps: int) -> float:
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def data_costs(tmp: Path, files: int = 3) -> tuple[float, float]:
    """(feature extraction s per file version, prepare s per segment) on a tiny generated corpus."""
    from sercore import data, extraction
    from sercore.datasets import synthetic
    from sercore.specs import CorpusSpec, DataSpec, FeatureSettings

    corpus = CorpusSpec(name="synthetic", synthetic_per_class=2)
    root = synthetic.ensure(tmp, 2, corpus.kept_emotions)
    paths = sorted(Path(root).rglob("*.wav"))[: files + 1]
    aug = FeatureSettings(augment=True)
    extraction.extract(paths[0], aug)  # librosa's first-call costs: paid once per process, not per file
    t0 = time.perf_counter()
    n_versions = sum(len(extraction.extract(p, aug).versions) for p in paths[1:])
    per_version = (time.perf_counter() - t0) / max(1, n_versions)
    spec = DataSpec(corpus=corpus, features=FeatureSettings(augment=False))
    prepared = data.prepare(spec, tmp, workers=1)  # builds the store
    n = len(prepared.x_train) + len(prepared.x_val) + len(prepared.x_test)
    per_segment = _best(lambda: data.prepare(spec, tmp, workers=1), 2) / n
    return per_version, per_segment


def features_job_costs(tmp: Path, sizes: tuple[int, ...] = FEATURES_SIZES) -> dict[str, float]:
    """A features job as the worker runs it (sercore.store.open_store on this machine's cores) on generated corpora
    of `sizes` files per class with the paper's augmentation: seconds per file version and per second of audio and
    version (extraction and writing the store, all cores) from the two largest, fixed seconds (process pool,
    warm-up, store set-up) from the smallest less its versions' share and, for the synthetic corpus only, seconds
    to generate a file."""
    import soundfile as sf

    from sercore.datasets import synthetic
    from sercore.specs import CorpusSpec, FeatureSettings
    from sercore.store import open_store

    took, versions, audio, files, generate = [], [], [], 0, 0.0
    k = n_versions(FeatureSettings(augment=True))
    for per_class in sizes:
        corpus = CorpusSpec(name="synthetic", synthetic_per_class=per_class)
        cache = tmp / f"features-{per_class}"
        t0 = time.perf_counter()
        root = synthetic.ensure(cache, per_class, corpus.kept_emotions)
        generate += time.perf_counter() - t0
        t0 = time.perf_counter()
        store = open_store(corpus, FeatureSettings(augment=True), cache, progress=False)
        took.append(time.perf_counter() - t0)
        files += len(store.files)
        versions.append(len(store.files) * k)
        audio.append(k * sum(sf.info(str(f)).duration for f in Path(root).rglob("*.wav")))
    per_version = max(0.0, (took[-1] - took[-2]) / max(1, versions[-1] - versions[-2]))
    per_audio = max(0.0, (took[-1] - took[-2]) / max(1e-9, audio[-1] - audio[-2]))
    return {"features_job_s": max(0.0, took[0] - versions[0] * per_version),
            "features_job_per_version_s": per_version, "features_job_per_audio_s": per_audio,
            "synthetic_per_file_s": generate / max(1, files), "data_per_segment_s": prepare_s(corpus, cache)}


def prepare_s(corpus: Any, cache: Path) -> float:
    """Seconds per segment of `sercore.data.prepare` on a built augmented store, timed once as a job's first
    call makes it (reading the memory-mapped store, normalising, standardising). On a store of ~60 segments,
    the fastest of two calls read 0.6 ms per segment where EmoDB's 4,181 took 2.2 ms warm and ~7 ms in a job."""
    from sercore import data
    from sercore.specs import DataSpec, FeatureSettings

    t0 = time.perf_counter()
    prepared = data.prepare(DataSpec(corpus=corpus, features=FeatureSettings(augment=True)), cache, workers=1)
    return (time.perf_counter() - t0) / (len(prepared.x_train) + len(prepared.x_val) + len(prepared.x_test))


def model_costs(arch: str, width: float, batches: list[int], reps: int = 2,
                samples: int = TRAIN_SAMPLES, quick: bool = False) -> dict[str, Any]:
    """Per-sample forward / forward+backward and training step by batch, trace seconds; unless `quick`, the
    training step with XLA and a real training job's overheads too."""
    import keras
    import numpy as np

    from sercore.estimator import make_classifier
    from sercore.models import build_model
    from sercore.specs import ModelSpec

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    model = build_model(ModelSpec(arch=arch, width=width), 5)
    x = rng.normal(size=(max([*batches, *(train_samples(b, samples) for b in batches)]), *SHAPE)).astype(np.float32)
    y = rng.integers(0, 5, len(x))
    est = make_classifier(model, 5, (-10.0, 10.0), compiled=True, max_batch=max(batches))
    forward, grad, trace = {}, {}, 0.0
    for b in batches:
        xb, yb = x[:b], y[:b]
        predict, gradient = partial(est.predict, xb), partial(est.loss_gradient, xb, yb)
        t_first = _best(predict, 1)
        g_first = _best(gradient, 1)
        forward[b] = _best(predict, reps) / b
        grad[b] = _best(gradient, reps) / b
        trace = max(trace, t_first - forward[b] * b + g_first - grad[b] * b)
    train, train_trace = train_costs(model, x, y, batches, samples, jit=False)
    eager, eager_trace = eager_costs(build_model(ModelSpec(arch=arch, width=width), 5), x, batches, reps)
    out = {"arch": arch, "width": width, "forward_s": forward, "grad_s": grad, "train_s": train,
           "train_step_s": interpolate(train, TRAIN_BATCH), "trace_s": max(0.0, trace),
           "train_trace_s": max(0.0, train_trace), "eager_s": eager, "eager_trace_s": eager_trace}
    if quick:
        return out
    if not gpu():  # sercore.train.resolve_jit: XLA on a CPU for big fits and in Keras Tuner's trials
        xla, xla_trace = train_costs(build_model(ModelSpec(arch=arch, width=width), 5), x, y, batches, samples,
                                     jit=True)
        out |= {"train_xla_s": xla, "train_trace_xla_s": max(0.0, xla_trace)}
        took = in_fresh_interpreter("fit_xla_timing", arch, width)
        out["fit_xla_s"] = max(0.0, took - FIT_XLA_TRAIN * interpolate(xla, TRAIN_BATCH)
                               - FIT_XLA_VAL * interpolate(forward, TRAIN_BATCH))
    fixed, epoch = in_fresh_interpreter("fit_costs", arch, width)
    out["attack_job_s"] = attack_job_s(arch, width, out)
    if arch == "final":  # the attacked architecture
        out["attack_setup_s"] = attack_setup_s(arch, width, out)
    if arch in TUNED_ARCHS:
        out["tune_job_s"], out["trial_s"] = tune_costs(arch, width, out)
    out |= {"fit_s": fixed, "epoch_s": max(0.0, epoch - FIT_TRAIN * interpolate(train, TRAIN_BATCH)
                                           - FIT_VAL * interpolate(forward, TRAIN_BATCH))}
    return out


def eager_costs(model: Any, x: Any, batches: list[int], reps: int = 2) -> tuple[dict[int, float], float]:
    """Seconds per sample of an eager `model(x, training=False)` call at each batch size (warm, the fastest of
    `reps`), as a transfer job predicts, and the first call's extra seconds on a fresh model."""
    import numpy as np

    def call(b: int) -> None:
        np.asarray(model(x[:b], training=False))

    first = _best(partial(call, batches[0]), 1)
    per_sample = {b: _best(partial(call, b), reps) / b for b in batches}
    return per_sample, max(0.0, first - per_sample[batches[0]] * batches[0])


def attack_job_s(arch: str, width: float, measured: dict[str, Any], n: int = 32) -> float:
    """What a real attack job (sercore.attack_job.attack_prepared, then its shard written) costs beyond what the
    cost model already prices: its whole time for FGSM on n samples with a fresh estimator, as a job gets, less
    tracing (`trace_s`) and the model evaluations `runner.cost` counts for it. The rest is the job's own work:
    checks, chunk files, assembling and writing rows."""
    took = attack_job_timing(arch, width, "fgsm", {"eps": 0.1}, random_prepared(n, n, n, seed=2), n)
    return max(0.0, took - priced_s(measured, arch, width, "fgsm", {"eps": 0.1}, n, n))


def attack_job_timing(arch: str, width: float, attack: str, params: dict[str, Any], data: Any, chunk: int) -> float:
    """Seconds of one attack job on every test sample of `data` in chunks of `chunk`, on a freshly built model."""
    from sercore import io
    from sercore.attack_job import attack_prepared
    from sercore.models import build_model
    from sercore.specs import AttackJob, CorpusSpec, DataSpec, ModelSpec, TrainJob

    target = TrainJob(data=DataSpec(corpus=CorpusSpec(name="synthetic")), model=ModelSpec(arch=arch, width=width))
    n = len(data.x_test)
    spec = AttackJob(target=target, attack=attack, params=params, limit=n, chunk_size=chunk, batch_size=chunk)
    model = build_model(ModelSpec(arch=arch, width=width), len(data.classes))
    with tempfile.TemporaryDirectory(prefix="sertack-attack-") as tmp:
        t0 = time.perf_counter()
        io.write_parquet(attack_prepared(spec, data, model, Path(tmp)), Path(tmp) / "shard.parquet")
        return time.perf_counter() - t0


def priced_s(measured: dict[str, Any], arch: str, width: float, attack: str, params: dict[str, Any], n: int,
             batch: int) -> float:
    """What runner.cost prices of an attack job on n samples at a batch size from these measurements: tracing the
    estimator, and every job's evaluations (clean, adversarial, ART's labels, the reliability checks) plus the
    attack's own."""
    from .cost import ModelCost, attack_evals

    m = ModelCost(arch, width, measured["forward_s"], measured["grad_s"], measured["train_step_s"])
    evals = [("F", 4.0, batch), ("G", 1.0, batch), *attack_evals(attack, params, CLASSES, batch)]
    return measured["trace_s"] + n * sum(c * m.per_sample(kind, b) for kind, c, b in evals)


def attack_timings(arch: str, width: float) -> dict[str, float]:
    """Seconds of a real attack job per attack of TIMED_ATTACKS at small loop bounds, ATTACK_SAMPLES samples in
    chunks of ATTACK_CHUNK, run one after another in this process, each on a fresh model in a fresh Keras session:
    what a stage's process does between jobs."""
    import keras

    data = random_prepared(ATTACK_SAMPLES, ATTACK_SAMPLES, ATTACK_SAMPLES, seed=2)
    took = {}
    for attack, params in TIMED_ATTACKS.items():
        keras.backend.clear_session()
        took[attack] = attack_job_timing(arch, width, attack, params, data, ATTACK_CHUNK)
    return took


def attack_setup_s(arch: str, width: float, measured: dict[str, Any]) -> dict[str, float]:
    """Per attack, what its job costs beyond tracing the estimator (`trace_s`) and the model evaluations
    `runner.cost` prices: building the attack, tracing its own functions (BIM's fused loop, DeepFool's and C&W's
    class gradients, ...), checks, chunk files and rows. From `attack_timings` in a fresh interpreter. FGSM's
    alone (`attack_job_s`, one chunk) left 2-5 s per job unpriced for BIM, DeepFool and C&W L2 on real EmoDB."""
    took = in_fresh_interpreter("attack_timings", arch, width)
    return {attack: max(0.0, took[attack] - priced_s(measured, arch, width, attack, params, ATTACK_SAMPLES,
                                                     ATTACK_CHUNK))
            for attack, params in TIMED_ATTACKS.items()}


def random_prepared(n_train: int, n_val: int, n_test: int, seed: int) -> Any:
    """A sercore.data.Prepared of seeded noise in the model's input shape, the synthetic corpus's classes and
    test metadata: what a training or an attack job reads, for timing them without a corpus."""
    import numpy as np
    import pandas as pd

    from sercore.data import Prepared
    from sercore.specs import CorpusSpec

    rng = np.random.default_rng(seed)
    classes = tuple(sorted(CorpusSpec(name="synthetic").kept_emotions))

    def split(n: int) -> tuple[Any, Any]:
        return rng.normal(size=(n, *SHAPE)).astype(np.float32), np.arange(n) % len(classes)

    (xt, yt), (xv, yv), (xs, ys) = split(n_train), split(n_val), split(n_test)
    i = np.arange(n_test)
    meta = pd.DataFrame({"path": [f"f{k}.wav" for k in i], "speaker": [f"s{k % 4}" for k in i],
                         "gender": np.where(i % 4 < 2, "female", "male"), "emotion": [classes[k] for k in ys],
                         "segment": i, "recording": i // 2})
    return Prepared(classes, xt, yt, xv, yv, xs, ys, meta.iloc[:0], meta.iloc[:0], meta, (-10.0, 10.0), None, None)


def gpu() -> bool:
    import tensorflow as tf

    return bool(tf.config.list_physical_devices("GPU"))


def in_fresh_interpreter(name: str, *args: Any) -> Any:
    """`runner.calibrate.<name>(*args)` in a fresh interpreter, as a stage's process runs its jobs, its result
    passed back as JSON: in this one, after the XLA compilations and every other model measured, the same small
    training job took 10 s where a fresh process took 5.6-6.7 s (m0 at width 0.25 on the dev VM)."""
    code = f"import json; from runner import calibrate; print(json.dumps(calibrate.{name}(*{list(args)!r})))"
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    out = subprocess.run([sys.executable, "-c", code], check=True, env=env, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def tune_timings(arch: str, width: float) -> list[float]:
    """Seconds of sercore.tune's Hyperband search (max_epochs 2, factor 2) on the small fit data for TUNE_TRIALS[0]
    and then, in the same process, TUNE_TRIALS[1] trials: the first pays the job's one-off costs, the second trials
    alone. Stage 1 for M1, stage 2 for the final model. Every trial has its own model (LSTM units, or dropout, not
    seen before in the process): a trial repeating one already compiled hits XLA's cache and took 2.6 s where a
    real search's trials took 8-9 s (the demo's stage 1 on the dev VM)."""
    from sercore import tune
    from sercore.specs import CorpusSpec, DataSpec, ModelSpec, TuneJob

    model = ModelSpec(arch="final", width=width)
    data = random_prepared(FIT_TRAIN, FIT_VAL, FIT_VAL, seed=3)
    took, k = [], 0
    for trials in TUNE_TRIALS:
        units = tuple(model.lstm_units + 8 * (k + i) for i in range(trials))
        dropout = tuple(round(0.05 * (k + i), 2) for i in range(trials))
        k += trials
        job = TuneJob(stage=1 if arch == "m1" else 2, data=DataSpec(corpus=CorpusSpec(name="synthetic")),
                      model=model, max_epochs=2, factor=2, hyperband_iterations=1, executions_per_trial=1,
                      max_trials=trials, lstm_units=units, dropout=dropout, lstm_dropout=(0.2,),
                      learning_rate=(1e-3,), batch_size=(TRAIN_BATCH,))
        with tempfile.TemporaryDirectory(prefix="sertack-tune-") as tmp:
            t0 = time.perf_counter()
            tune.tune_prepared(job, data, Path(tmp))
            took.append(time.perf_counter() - t0)
    return took


def tune_costs(arch: str, width: float, measured: dict[str, Any]) -> tuple[float, float]:
    """(seconds a tune job pays once, seconds per trial) beyond its epochs' steps, from `tune_timings` in a fresh
    interpreter (as a stage's process runs it) less the XLA training steps and validation passes of the epochs
    keras-tuner's schedule trains (runner.cost.hyperband_epochs)."""
    from .cost import hyperband_epochs

    took = in_fresh_interpreter("tune_timings", arch, width)
    step = interpolate(measured.get("train_xla_s") or measured["train_s"], TRAIN_BATCH)
    epoch = FIT_TRAIN * step + FIT_VAL * interpolate(measured["forward_s"], TRAIN_BATCH)
    (n0, e0), (n1, e1) = (hyperband_epochs(2, 2, 1, k) for k in TUNE_TRIALS)
    trial = max(0.0, (took[1] - e1 * epoch) / n1)
    return max(0.0, took[0] - e0 * epoch - n0 * trial), trial


def fit_costs(arch: str, width: float) -> tuple[float, float]:
    """(seconds of a training job beyond its epochs, seconds of one epoch) from sercore.train's own fit, predict
    and save of a small plain (non-XLA) model, run for 1 and for FIT_EPOCHS epochs: the per-job costs (build,
    compile, tracing the train and validation functions, predicting the test set, saving) and the per-epoch
    ones (validation, callbacks, the exact-resume backup) that the per-sample step leaves out. Both run twice
    and the second pair counts: a stage's process runs its jobs one after another, and the first fit of a fresh
    interpreter paid one-off costs that made M0's job read 7.6 s where the demo's studies took 5.8-5.9 s."""
    import keras

    from sercore.specs import TrainSettings

    data = random_prepared(FIT_TRAIN, FIT_VAL, FIT_VAL, seed=1)
    took = {}
    for epochs in (1, FIT_EPOCHS, 1, FIT_EPOCHS):
        settings = TrainSettings(epochs=epochs, batch_size=TRAIN_BATCH, jit_compile=False)
        took[epochs] = training_job_s(arch, width, data, settings)
        keras.backend.clear_session()
    epoch = (took[FIT_EPOCHS] - took[1]) / (FIT_EPOCHS - 1)
    return max(0.0, took[1] - epoch), epoch


def fit_xla_timing(arch: str, width: float) -> float:
    """Seconds of a one-epoch training job with XLA (sercore.train's fit, predict and save) whose training and
    validation sets end in a short batch, as a real corpus's do: XLA compiles the training and the validation
    function once per batch shape, four compilations. The first epoch of real EmoDB's quarter-width model took
    19.5 s more than the next, where one compilation (`train_trace_xla_s`) measured 10.4 s."""
    from sercore.specs import TrainSettings

    data = random_prepared(FIT_XLA_TRAIN, FIT_XLA_VAL, FIT_XLA_VAL, seed=4)
    return training_job_s(arch, width, data, TrainSettings(epochs=1, batch_size=TRAIN_BATCH, jit_compile=True))


def training_job_s(arch: str, width: float, data: Any, settings: Any) -> float:
    """Seconds of what a training job does with its model: build and compile it, sercore.train's fit, predict the
    test set, save (seeded, in a scratch folder)."""
    import keras

    from sercore import train
    from sercore.models import build_model
    from sercore.specs import ModelSpec

    keras.utils.set_random_seed(0)
    with tempfile.TemporaryDirectory(prefix="sertack-fit-") as tmp:
        t0 = time.perf_counter()
        model = train.compile_model(build_model(ModelSpec(arch=arch, width=width), 5), settings)
        train.fit(model, data, settings, Path(tmp))
        model.predict(data.x_test, batch_size=256, verbose=0)
        train.save_model(model, Path(tmp) / "model.keras")
        return time.perf_counter() - t0


def train_samples(batch: int, samples: int = TRAIN_SAMPLES) -> int:
    """Samples of one timed epoch at a batch size: whole batches (a ragged last one would retrace), at least
    TRAIN_STEPS steps and `samples` samples so small batches are not timed on a handful of steps."""
    return batch * max(TRAIN_STEPS, -(-samples // batch))


def train_costs(model: Any, x: Any, y: Any, batches: list[int], samples: int = TRAIN_SAMPLES,
                epochs: int = 3, jit: bool = False) -> tuple[dict[int, float], float]:
    """Training step seconds per sample at each batch size (Keras fit, the fastest warm epoch), and the largest
    first-epoch overhead (tracing, with `jit` XLA-compiling, the train function for that batch shape)."""
    import keras

    times: list[float] = []

    class Clock(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch: int, logs: Any = None) -> None:
            self.t0 = time.perf_counter()

        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            times.append(time.perf_counter() - self.t0)

    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy", jit_compile=jit)
    per_sample, trace = {}, 0.0
    for b in batches:
        n = train_samples(b, samples)
        times.clear()
        model.fit(x[:n], y[:n], epochs=epochs, batch_size=b, verbose=0, callbacks=[Clock()])
        per_sample[b] = min(times[1:]) / n
        trace = max(trace, times[0] - min(times[1:]))
    return per_sample, trace


def model_load_s(tmp: Path) -> float:
    import keras

    from sercore.models import build_model
    from sercore.specs import ModelSpec

    path = tmp / "model.keras"
    build_model(ModelSpec(arch="final", width=0.25), 5).save(path)
    return _best(lambda: keras.models.load_model(path, compile=False), 2)


def calibrate(models: list[tuple[str, float]], batches: list[int], progress: Any = print,
              quick: bool = False) -> dict[str, Any]:
    """Every measurement above, as the calibration dict runner.cost.load_calibration reads (`quick`: one startup
    and a short training measurement, for smoke runs)."""
    import tensorflow as tf

    load0 = os.getloadavg()[0]
    gpus = tf.config.list_physical_devices("GPU")
    device = "gpu" if gpus else "cpu"
    if gpus:
        device = str(tf.config.experimental.get_device_details(gpus[0]).get("device_name", "gpu"))
    out: dict[str, Any] = {}
    progress("startup (fresh interpreter + imports) ...")
    out["startup_s"] = startup_s(1 if quick else 2)
    with tempfile.TemporaryDirectory(prefix="sertack-calibrate-") as tmp:
        progress("feature extraction and data preparation ...")
        out["features_per_version_s"], out["data_per_segment_s"] = data_costs(Path(tmp))
        out["model_load_s"] = model_load_s(Path(tmp))
        if not quick:
            progress("a features job ...")
            out |= features_job_costs(Path(tmp))
    out["models"] = []
    for arch, width in models:
        progress(f"model {arch} width {width} ...")
        out["models"].append(model_costs(arch, width, batches,
                                          samples=QUICK_TRAIN_SAMPLES if quick else TRAIN_SAMPLES, quick=quick))
    load1 = os.getloadavg()[0]
    host = socket.gethostname()
    stamp = datetime.now(UTC).isoformat(timespec="seconds")
    return {
        "label": f"measured on {host} ({os.cpu_count()} cores, {device}) by `python -m runner calibrate` at "
                 f"{stamp}, load average {load0:.1f}-{load1:.1f}",
        "device": device, "host": host, "cores": os.cpu_count(), "platform": platform.platform(),
        "tensorflow": tf.__version__, "measured_at": stamp, "load_average": [round(load0, 2), round(load1, 2)],
        "batches": batches, **out,
    }


def parse_models(text: str) -> list[tuple[str, float]]:
    from sercore.errors import ConfigError
    from sercore.vocab import ARCHS

    out: list[tuple[str, float]] = []
    for item in filter(None, (t.strip() for t in text.split(","))):
        arch, _, width = item.partition(":")
        try:
            w = float(width or 1.0)
        except ValueError as exc:
            raise ConfigError(f"--models {item}: width must be a number (got {width!r})") from exc
        if arch not in ARCHS:
            raise ConfigError(f"--models {item}: unknown arch {arch!r} (expected one of {', '.join(ARCHS)})")
        out.append((arch, w))
    return out


def cmd_calibrate(args: Any) -> int:
    from sercore.errors import ConfigError
    from sercore.io import write_json

    from .grid import load_grid

    models = parse_models(args.models) if args.models else []
    for g in args.grid:
        models += grid_models(load_grid(g, args.overrides))
    models = list(dict.fromkeys(models or DEFAULT_MODELS))
    try:
        batches = sorted({int(b) for b in args.batches.split(",")})
    except ValueError as exc:
        raise ConfigError(f"--batches {args.batches}: expected comma-separated integers") from exc
    if not batches or batches[0] < 1:
        raise ConfigError(f"--batches {args.batches}: batch sizes must be >= 1")
    t0 = time.perf_counter()
    result = calibrate(models, batches, progress=lambda m: print(m, file=sys.stderr, flush=True))
    result["calibrate_s"] = round(time.perf_counter() - t0, 1)
    write_json(args.out, result)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(f"{result['label']}\nwrote {args.out} in {result['calibrate_s']:.0f} s; use it with "
              f"`python -m runner plan GRID --estimate --calibration {args.out}`")
    return 0
