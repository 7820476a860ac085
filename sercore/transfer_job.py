"""Transfer: replay the adversarial inputs crafted on one model (the source) on another model of the same corpus.

An attack job keeps, per chunk, delta = x_adv - x in the source's model-input units (standardised with the source
scaler), float16 (`chunk-NNNNN.delta.npz`). Models of one corpus share the feature store, but each protocol and
seed fits its own standardiser, so the same spectrogram is a different input to each model. The replay therefore
goes back to the common, un-standardised space and forward into the target's:

    x_norm      = normalize(store.x[segment])            (identical for both: same features and normalisation)
    x_adv_norm  = x_norm + delta * std_source            (un-standardise with the source scaler)
    input       = (x_adv_norm - mean_target) / std_target   (standardise with the target's)

(a model trained without standardisation has mean 0, std 1). The target sees no clipping: the source's clip
values already bounded x_adv. `norm_max_global` is excluded (its scale is fitted per split; TransferJob refuses
it). Each row also says whether the target trained on the sample's recording (`target_seen`: the recording
has a segment in the target's training or validation rows): under the paper's protocol most have, which
flatters transfer onto paper-protocol targets. Source and target may differ in `model.output` (softmax or
logits): the deltas are inputs and the target is scored by its argmax, which a softmax does not change.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from . import artefacts
from . import normalize as nz
from .attack_job import chunk_plan, delta_path, load_model
from .attack_params import params_json
from .env import JobEnv
from .errors import JobError
from .specs import AttackJob, DataSpec, TrainJob, TransferJob

if TYPE_CHECKING:
    import keras

log = logging.getLogger(__name__)

BATCH = 256


def read_scaler(folder: Path) -> tuple[np.ndarray | None, np.ndarray | None, tuple[str, ...]]:
    """(mean, std, classes) of a train job's scaler.npz; mean/std None for a model trained unstandardised."""
    path = Path(folder) / "scaler.npz"
    if not path.is_file():
        raise JobError(f"{path}: scaler not found (has the train job finished?)")
    s = artefacts.check_scaler(path)  # a truncated file names itself (DataError), not a bare BadZipFile
    mean, std, classes = s["mean"], s["std"], tuple(str(c) for c in s["classes"])
    if mean.size == 0:
        return None, None, classes
    return mean.astype(np.float64), std.astype(np.float64), classes


def read_deltas(folder: Path, attack: AttackJob, n_test: int) -> tuple[pd.DataFrame, np.ndarray]:
    """The attack job's rows (sample, y_true, y_adv) and deltas (n, frames, mels) float32, in sample order."""
    chunk_dir = Path(folder) / "chunks"
    frames, deltas = [], []
    for chunk, _ in chunk_plan(n_test, attack):
        rows_path, d_path = chunk_dir / f"chunk-{chunk:05d}.parquet", delta_path(chunk_dir, chunk)
        if not d_path.is_file() or not rows_path.is_file():
            raise JobError(f"{d_path}: adversarial inputs not found (attack job {attack.job_id} ran before the "
                           "attack stage kept them, or did not finish: rerun it)")
        artefacts.check_parquet(rows_path, ("sample", "y_true", "y_adv"), min_rows=0)
        rows = pd.read_parquet(rows_path, columns=["sample", "y_true", "y_adv"])
        npz = artefacts.check_deltas(d_path)
        if not np.array_equal(npz["sample"], rows["sample"].to_numpy()):
            raise JobError(f"{d_path}: samples differ from {rows_path.name}'s")
        deltas.append(npz["delta"].astype(np.float32))
        frames.append(rows)
    if not frames:
        return pd.DataFrame(columns=["sample", "y_true", "y_adv"]), np.zeros((0, 0, 0), np.float32)
    return pd.concat(frames, ignore_index=True), np.concatenate(deltas)


def to_target(x_norm: np.ndarray, delta: np.ndarray | None, source: tuple, target: tuple) -> np.ndarray:
    """Model input of the target for normalised spectrograms (plus a source-space delta): see the module doc."""
    x = x_norm.astype(np.float64)
    if delta is not None:
        s_std = source[1] if source[1] is not None else 1.0
        x = x + delta.astype(np.float64) * s_std
    if target[0] is not None:
        x = (x - target[0]) / target[1]
    return x.astype(np.float32)[..., None]


def _predict(model: keras.Model, x: np.ndarray) -> np.ndarray:
    """Predicted classes: the argmax, the same for a softmax head and for logits (so either side may be either)."""
    return np.concatenate([np.asarray(model(x[i:i + BATCH], training=False)).argmax(axis=1)
                           for i in range(0, len(x), BATCH)]) if len(x) else np.zeros(0, np.int64)


def _splits(spec: DataSpec, meta: pd.DataFrame, labels: np.ndarray):
    from .data import split_indices

    return split_indices(spec, meta, labels)


def _model_cols(prefix: str, job: TrainJob) -> dict:
    d = job.data
    return {f"{prefix}_model_id": job.job_id, f"{prefix}_study": job.study, f"{prefix}_arch": job.model.label,
            f"{prefix}_protocol": d.protocol, f"{prefix}_seed": d.seed, f"{prefix}_normalization": d.normalization,
            f"{prefix}_standardize": d.standardize, f"{prefix}_output": job.model.output}


def _check_classes(classes: tuple, **scalers: tuple) -> None:
    for what, scaler in scalers.items():
        if tuple(scaler[2]) != tuple(classes):
            raise JobError(f"{what} model classes {list(scaler[2])} differ from the corpus's {list(classes)}")


def transfer_rows(job: TransferJob, model: keras.Model, store, inputs: dict[str, Path],
                  source_scaler: tuple, target_scaler: tuple) -> pd.DataFrame:
    """The body of run_transfer once the model, the store and the scalers are at hand (tests feed them)."""
    from .vocab import class_order

    src, tgt = job.source.data, job.target.data
    classes = class_order(src.corpus.kept_emotions)
    _check_classes(classes, source=source_scaler, target=target_scaler)
    labels = store.meta["emotion"].map({c: i for i, c in enumerate(classes)}).to_numpy(np.int64)
    src_test = _splits(src, store.meta, labels).test
    t_split = _splits(tgt, store.meta, labels)
    recording = store.meta["recording"].astype(str).to_numpy()
    seen = set(recording[np.concatenate([t_split.train, t_split.val])])
    frames = []
    for attack in job.attacks:
        rows, delta = read_deltas(inputs[attack.job_id], attack, len(src_test))
        if rows.empty:
            continue
        segment = src_test[rows["sample"].to_numpy()]
        if not np.array_equal(labels[segment], rows["y_true"].to_numpy()):
            raise JobError(f"attack job {attack.job_id}: its true labels do not match the rebuilt source test set")
        x_norm = nz.normalize(store.x[np.sort(segment)], src.normalization)[np.argsort(np.argsort(segment))]
        y_clean = _predict(model, to_target(x_norm, None, source_scaler, target_scaler))
        y_adv = _predict(model, to_target(x_norm, delta, source_scaler, target_scaler))
        meta = store.meta.iloc[segment]
        frames.append(pd.DataFrame({
            "attack_job_id": attack.job_id, "attack": attack.attack, "params": params_json(attack.params.kwargs()),
            "labels": attack.labels, "estimator": attack.estimator, "sample": rows["sample"].to_numpy(np.int64),
            "segment": segment.astype(np.int64), "recording": recording[segment],
            "speaker": meta["speaker"].astype(str).to_numpy(), "gender": meta["gender"].astype(str).to_numpy(),
            "y_true": rows["y_true"].to_numpy(np.int64), "y_adv_source": rows["y_adv"].to_numpy(np.int64),
            "y_clean": y_clean.astype(np.int64), "y_adv": y_adv.astype(np.int64),
            "target_seen": np.isin(recording[segment], list(seen))}))
    out = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    cols = {"dataset": src.corpus.name, **_model_cols("source", job.source), **_model_cols("target", job.target),
            "self": job.source.job_id == job.target.job_id}
    for k, v in cols.items():
        out[k] = v
    return out


def run_transfer(job: TransferJob, workdir: Path, env: JobEnv) -> pd.DataFrame:
    """Evaluate the source's adversarial inputs (every attack job of `job.attacks`) on the target model."""
    from .store import open_store

    missing = [a.job_id for a in job.attacks if a.job_id not in env.inputs]
    if "source" not in env.inputs or missing:
        raise JobError(f"transfer job needs the source model folder and every attack folder (missing: "
                       f"{', '.join((['source'] if 'source' not in env.inputs else []) + missing)})")
    model = load_model(env.upstream)
    assert env.upstream is not None  # load_model raised otherwise
    src = job.source.data
    store = open_store(src.corpus, src.features, Path(env.cache_dir), progress=False)
    rows = transfer_rows(job, model, store, dict(env.inputs), read_scaler(env.inputs["source"]),
                         read_scaler(env.upstream))
    log.info("transfer %s -> %s: %d samples of %d attack jobs", job.source.job_id, job.target.job_id, len(rows),
             len(job.attacks))
    Path(workdir).mkdir(parents=True, exist_ok=True)
    return rows

