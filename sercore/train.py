"""Train one model on one prepared dataset and evaluate it on the test split, overall and by speaker gender.

One `TrainJob` covers the normalisation study (paper Table 1), the architecture study (Table 2) and the final
models (Table 3): they differ only in their spec. Training follows the paper's code: Adam, categorical
cross-entropy, EarlyStopping(val_loss, patience 10, best weights restored), ReduceLROnPlateau(val_loss, x0.1,
patience 6, min_delta 1e-4). Under `model.output: logits` the loss takes the logits (from_logits) and everything
stored (predictions, test loss) uses their softmax. A backup in `workdir/backup` lets a killed or requeued job
resume at its last finished epoch and end exactly as an uninterrupted run (sercore.resume); the row says whether
it resumed.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import io
from .artefacts import check_finite
from .env import JobEnv, seed_everything
from .errors import ConfigError, JobError
from .metrics import accuracy_by_gender, composition, confusion_matrix
from .models import architecture, build_model, probabilities
from .specs import ARCHS, TrainJob, TrainSettings

if TYPE_CHECKING:
    import keras

    from .data import Prepared

log = logging.getLogger(__name__)

# benchmarks/train.py, final model, batch 32, 2-core x86 CPU with AVX-512, idle machine: XLA trains 1.22x
# (width 1.0) and 1.41x (width 0.25) faster than plain TF, but its first epoch pays 6-9 s of compilation.
# Break-even is ~1,800 (width 1.0) to ~5,900 (width 0.25) sample-passes, so "auto" turns XLA on on CPU once
# n_train x epochs reaches XLA_CPU_MIN_SAMPLE_PASSES (every real-corpus training) and leaves it off for tiny runs
# (tests, the demo). (Measured under heavy load from other processes the ratio fell to 0.5-0.8x.)
# On GPU "auto" is handed to Keras, which leaves XLA off for these models: the TF LSTM layer takes the cuDNN
# kernel there and marks itself not jit-compilable (keras/src/layers/rnn/lstm.py). Not measured on GPU by us.
XLA_CPU_MIN_SAMPLE_PASSES = 6000


def resolve_jit(setting: bool | str, deterministic: bool = False, sample_passes: int | None = None) -> bool | str:
    """The jit_compile value to hand Keras for this device and training budget (n_train x epochs).

    Op determinism rules XLA out (Keras does too)."""
    if deterministic:
        return False
    if isinstance(setting, bool):
        return setting
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        return "auto"
    return sample_passes is not None and sample_passes >= XLA_CPU_MIN_SAMPLE_PASSES


def check_prepared(data: Prepared) -> None:
    """Fail early, naming the field, on data a classifier cannot be trained or evaluated on."""
    n = len(data.classes)
    if n < 2:
        raise ConfigError(f"data.corpus.emotions: need at least 2 classes to train (got {list(data.classes)})")
    for split in ("train", "val", "test"):
        x, y = getattr(data, f"x_{split}"), getattr(data, f"y_{split}")
        if len(x) == 0:
            raise JobError(f"{split} split is empty: too few recordings for the split settings")
        if len(y) != len(x):
            raise JobError(f"{split} split: {len(x)} inputs but {len(y)} labels")
        if y.min() < 0 or y.max() >= n:
            raise JobError(f"{split} split: labels outside 0..{n - 1}: classes mismatch ({list(data.classes)})")
        check_finite(x, f"{split} split inputs")  # NaN segments train a chance-level model silently


def compile_model(model: keras.Model, settings: TrainSettings, n_train: int | None = None,
                  output: str = "softmax") -> keras.Model:
    """Adam on categorical cross-entropy; on the logits (from_logits) when the head has no softmax."""
    import keras

    loss = ("categorical_crossentropy" if output == "softmax"
            else keras.losses.CategoricalCrossentropy(from_logits=True))
    model.compile(
        optimizer=keras.optimizers.Adam(settings.learning_rate),
        loss=loss,
        metrics=["accuracy"],
        jit_compile=resolve_jit(settings.jit_compile, settings.deterministic,
                                None if n_train is None else n_train * settings.epochs),
    )
    return model


def callbacks(settings: TrainSettings, backup_dir: Path | None = None) -> list[keras.callbacks.Callback]:
    """The paper's early stopping and learning-rate schedule, plus exact resume support when `backup_dir` is set
    (sercore.resume; its EpochRandomness comes with the batches, from `fit`)."""
    import keras

    from .resume import ExactBackup, usable

    mode = monitor_mode(settings.monitor)
    cbs: list[keras.callbacks.Callback] = [
        keras.callbacks.EarlyStopping(
            monitor=settings.monitor, patience=settings.early_stopping_patience, mode=mode, restore_best_weights=True
        ),
        keras.callbacks.ReduceLROnPlateau(
            monitor=settings.monitor, factor=settings.reduce_lr_factor, patience=settings.reduce_lr_patience,
            min_delta=1e-4, mode=mode,
        ),
    ]
    cbs.append(keras.callbacks.LambdaCallback(on_epoch_end=_log_epoch))
    if backup_dir is not None:
        # The backup is deleted once training ends, so the epoch log lives beside it. It appends across resumes
        # (deduplicated by epoch later) and is written before the backup, so a kill between the two repeats
        # the epoch rather than losing its line; a fresh start (no usable backup) begins a new log.
        log_path = backup_dir.parent / "history.partial.csv"
        if not usable(backup_dir):
            log_path.unlink(missing_ok=True)
        cbs.append(keras.callbacks.CSVLogger(str(log_path), append=True))
        cbs.append(ExactBackup(backup_dir, stateful=cbs[:2]))
    return cbs


def monitor_mode(monitor: str) -> str:
    """'min' for a loss, 'max' for an accuracy (what EarlyStopping's 'auto' would guess, made explicit)."""
    return "max" if monitor.endswith("accuracy") else "min"


def best_epoch(hist: pd.DataFrame, monitor: str) -> int:
    """1-based epoch whose weights EarlyStopping restores: the first best value of `monitor` (0: no history)."""
    if hist.empty or monitor not in hist:
        return 0
    col = hist[monitor]
    return int(col.idxmax() if monitor_mode(monitor) == "max" else col.idxmin()) + 1


CURVES = ("loss", "accuracy", "val_loss", "val_accuracy", "learning_rate")


def curves_json(hist: pd.DataFrame) -> str:
    """The per-epoch curves as one JSON object of lists (a train-row column; NaN becomes null)."""
    cols = [c for c in CURVES if c in hist] + (["lr"] if "lr" in hist and "learning_rate" not in hist else [])
    return json.dumps({c: [None if pd.isna(v) else round(float(v), 6) for v in hist[c]] for c in cols})


def outcomes_json(data: Prepared, proba: np.ndarray) -> str:
    """Per test sample: recording, gender and whether the prediction is right, so the reducer can pool folds
    and bootstrap over recordings without the artefacts (one JSON object of three lists)."""
    meta = data.meta_test
    rec = meta["recording"] if "recording" in meta else meta["path"]
    return json.dumps({"recording": rec.astype(str).tolist(), "gender": meta["gender"].astype(str).tolist(),
                       "correct": (proba.argmax(axis=1) == data.y_test).astype(int).tolist()})


def _log_epoch(epoch: int, logs: dict[str, float] | None) -> None:
    """One log line per epoch (`python -m sercore -v train ...` shows progress; Slurm logs stay short)."""
    shown = " ".join(f"{k}={v:.4g}" for k, v in sorted((logs or {}).items()))
    log.info("epoch %d: %s", epoch + 1, shown)


def fit(model: keras.Model, data: Prepared, settings: TrainSettings, workdir: Path, seed: int = 0) -> pd.DataFrame:
    """Train in place (best weights restored); returns the per-epoch history (all resumes included).

    Each epoch's sample order and dropout masks come from (seed, epoch) (sercore.resume), so a run resumed
    from `workdir/backup` after a kill equals an uninterrupted one; `hist.attrs["resumed_from"]` lists the
    1-based epochs at which it picked up again (empty: never interrupted)."""
    import keras

    from .resume import EpochRandomness, ExactBackup, epoch_batches

    n = len(data.classes)
    batches, order = epoch_batches(data.x_train, keras.utils.to_categorical(data.y_train, n).astype(np.float32),
                                   settings.batch_size)
    cbs = [EpochRandomness(seed, order), *callbacks(settings, workdir / "backup")]
    model.fit(
        batches,
        validation_data=(data.x_val, keras.utils.to_categorical(data.y_val, n)),
        validation_batch_size=settings.batch_size,
        epochs=settings.epochs,
        callbacks=cbs,
        shuffle=False,  # the batches come shuffled, per epoch, from (seed, epoch)
        verbose=0,
    )
    partial = workdir / "history.partial.csv"
    hist = pd.read_csv(partial).drop_duplicates("epoch", keep="last").reset_index(drop=True)
    partial.unlink()
    hist.attrs["resumed_from"] = next(cb.resumed_from for cb in cbs if isinstance(cb, ExactBackup))
    return hist


def _resumed_from(hist: pd.DataFrame) -> int | None:
    """The 1-based epoch at which training last resumed from its backup; None when it ran in one go."""
    resumed = hist.attrs.get("resumed_from") or []
    return int(resumed[-1]) if resumed else None


def save_model(model: keras.Model, path: Path) -> None:
    """Atomic .keras save (Keras insists on the suffix, so the temp file keeps it)."""
    with io.atomic_path(path, suffix=".keras") as tmp:
        model.save(tmp)


def predictions_table(data: Prepared, proba: np.ndarray) -> pd.DataFrame:
    """One row per test sample: who spoke it, the truth, the prediction and every class probability."""
    meta = data.meta_test.reset_index(drop=True)
    df = pd.DataFrame({
        "sample": np.arange(len(meta), dtype=np.int64),
        "path": meta["path"].astype(str),
        "speaker": meta["speaker"].astype(str),
        "gender": meta["gender"].astype(str),
        "emotion": meta["emotion"].astype(str),
        "segment": meta["segment"].to_numpy() if "segment" in meta else np.arange(len(meta)),
        "y_true": data.y_test.astype(np.int64),
        "y_pred": proba.argmax(axis=1).astype(np.int64),
    })
    for k, cls in enumerate(data.classes):
        df[f"p_{cls}"] = proba[:, k].astype(np.float32)
    return df


def evaluate(data: Prepared, proba: np.ndarray) -> dict[str, Any]:
    """Loss, accuracies overall/male/female, confusion matrix and test composition."""
    y, pred = data.y_test.astype(np.int64), proba.argmax(axis=1)
    gender = data.meta_test["gender"].astype(str).to_numpy()
    acc = accuracy_by_gender(y, pred, gender)
    loss = float(-np.mean(np.log(np.clip(proba[np.arange(len(y)), y], 1e-7, 1.0))))
    return {
        "loss": loss,
        "accuracy": acc["overall"],
        "accuracy_male": acc["male"],
        "accuracy_female": acc["female"],
        "n_test_male": int((gender == "male").sum()),
        "n_test_female": int((gender == "female").sum()),
        "confusion": json.dumps(confusion_matrix(y, pred, len(data.classes)).tolist()),
        "test_composition": json.dumps(composition(data.meta_test["emotion"].astype(str).tolist(), gender.tolist())),
    }


def job_row(job: TrainJob) -> dict[str, Any]:
    """The spec columns of a result row."""
    if job.model.byo:
        return byo_row(job)
    arch = architecture(job.model)
    return job_row_base(job) | {
        "arch": job.model.arch,
        "width": job.model.width,
        "dropout": job.model.dropout if job.model.arch == "final" else None,
        "lstm_dropout": arch.lstm_dropout,
        "lstm_units": arch.lstm_units,  # at width 1.0; the model has round(units * width)
    }


def byo_row(job: TrainJob) -> dict[str, Any]:
    """A user model's spec columns: its name in `arch`, no paper topology, and which standardiser it was given."""
    spec = job.model
    return job_row_base(job) | {
        "arch": spec.label, "byo_trained": spec.trained,
        "standardiser": "the model itself" if spec.standardizes_inside
        else ("the protocol's standardiser (fitted on train)" if job.data.standardize
              else "nothing (standardize: false)"),
    }


def official_split_column(job: TrainJob, data: Prepared) -> dict[str, Any]:
    """`user_split`, only on rows of a manifest with a split or fold column: whether the protocol honoured it."""
    from .data import user_split

    said = user_split(job.data, data.meta_test)
    return {} if said is None else {"user_split": said}


def job_row_base(job: TrainJob) -> dict[str, Any]:
    """The data and training columns every train row has, and the model's columns in their place (None here:
    job_row and byo_row fill them), so paper and user-model rows share one column order."""
    return {
        "study": job.study,
        "dataset": job.data.corpus.name,
        "language": job.data.corpus.language_code,
        "protocol": job.data.protocol,
        "seed": job.data.seed,
        "split_seed": job.data.effective_split_seed,
        "arch": None,
        "width": None,
        "normalization": job.data.normalization,
        "standardize": job.data.standardize,
        "dropout": None,
        "lstm_dropout": None,
        "lstm_units": None,
        "learning_rate": job.train.learning_rate,
        "batch_size": job.train.batch_size,
        "folds": job.data.folds,
        "fold": job.data.fold if job.data.folds is not None else None,
        "monitor": job.train.monitor,
        "model_output": job.model.output,
    }


def run_train(job: TrainJob, workdir: Path, env: JobEnv) -> pd.DataFrame:
    """Train, evaluate and save one model; returns its single result row (see docs/contracts.md)."""
    from .data import prepare

    # A summary.json left by an earlier attempt is never answered from: with no shard the runner cannot tell a
    # job killed between summary and shard (a second's window) from a shard deleted to force a retrain, or a
    # summary from the model beside it, so the job always trains (docs/runner.md, "What is checked").
    if job.model.arch not in ARCHS:
        raise ConfigError(f"model.arch: unknown architecture {job.model.arch!r} (expected one of {', '.join(ARCHS)})")
    return pd.DataFrame([train_prepared(job, prepare(job.data, env.cache_dir), workdir)])


def new_model(job: TrainJob, n_classes: int) -> keras.Model:
    """The untrained model: one of the paper's architectures, or the user's (sercore.byo)."""
    if job.model.byo:
        from .models import user_model

        return user_model(job.model, n_classes)
    return build_model(job.model, n_classes)


def trained_model(job: TrainJob, data: Prepared) -> keras.Model:
    """The user's trained model file, checked: input shape, head, and class order against the corpus'."""
    from .models import check_built, check_classes, load_file

    model = load_file(job.model)
    check_built(model, job.model, f"model.file {job.model.file!r}", len(data.classes))
    check_classes(job.model, tuple(data.classes))
    return model


def train_prepared(job: TrainJob, data: Prepared, workdir: Path) -> dict[str, Any]:
    """The body of `run_train` once the data is in memory (tests feed it arrays directly)."""
    check_prepared(data)
    seed_everything(job.data.seed, job.train.deterministic)
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    if job.model.trained:  # a user's trained model: attacked as it is, evaluated here like any other
        model, hist = trained_model(job, data), pd.DataFrame()
    else:
        model = compile_model(new_model(job, len(data.classes)), job.train, n_train=len(data.x_train),
                              output=job.model.output)
        hist = fit(model, data, job.train, workdir, seed=job.data.seed)
    train_s = time.perf_counter() - t0
    proba = probabilities(model.predict(data.x_test, batch_size=256, verbose=0), job.model.output)

    save_model(model, workdir / "model.keras")
    io.write_text(workdir / "history.csv", hist.to_csv(index=False))
    io.write_parquet(predictions_table(data, proba), workdir / "predictions.parquet")
    empty = np.zeros((0,), np.float32)
    io.write_npz(
        workdir / "scaler.npz",
        mean=empty if data.mean is None else np.asarray(data.mean, np.float32),
        std=empty if data.std is None else np.asarray(data.std, np.float32),
        clip_min=np.asarray(data.clip_values[0], np.float32),
        clip_max=np.asarray(data.clip_values[1], np.float32),
        classes=np.asarray(data.classes, dtype=str),
    )
    row = job_row(job) | official_split_column(job, data) | {
        "n_params": int(model.count_params()),
        "epochs_run": int(len(hist)),
        "resumed": _resumed_from(hist) is not None,
        "resumed_from_epoch": _resumed_from(hist),
        "best_epoch": best_epoch(hist, job.train.monitor),
        "curves": curves_json(hist),
        "test_outcomes": outcomes_json(data, proba),
        "train_s": round(train_s, 3),
        "n_train": len(data.x_train),
        "n_val": len(data.x_val),
        "n_test": len(data.x_test),
        "classes": json.dumps(list(data.classes)),
    } | evaluate(data, proba)
    io.write_json(workdir / "summary.json", {"job_id": job.job_id, "job": job.model_dump(mode="json"), "row": row})
    return row
