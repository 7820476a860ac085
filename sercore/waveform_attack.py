"""Attacks on the sound: the trained model behind the differentiable front end, budgets in dB of SNR.

A spectrogram-domain adversarial example is not a sound (the dB step, the per-segment reference and the
standardiser are not invertible cell by cell). Here the attacked input is the 3-second segment itself:

1. each test segment's waveform is rebuilt from its file by the feature store's own steps (trim, augmentation
   version, chunk: `extraction.segment_waveforms`), so its front-end features are the store's (to ~1e-5);
2. the ART attack runs on `frontend.waveform_model` with clip values [-1, 1] (folded into a near-square image for
   attacks that take images only: Square, AutoAttack);
3. the budget: `snr_db` gives each sample its own eps from its own energy, eps_2 = ||x||_2 / 10^(SNR/20)
   (robust_speech's convention), and eps_inf = eps_2 / sqrt(samples) for L-inf attacks, so that any perturbation
   within it has SNR >= the target. Minimal-norm and decision-based attacks (DeepFool, C&W L2, BoundaryAttack)
   have no budget: a result louder than the target is scaled down onto the L2 ball (`projected`) and re-judged.
   Attacks whose ART eps must be one number (Square, AutoAttack) run one sample at a time with its own eps;
4. every adversarial waveform is written as a 16-bit WAV and read back, and the row's prediction (`y_adv`) is the
   re-read file's: quantisation can undo an attack (`y_adv_float` keeps the float example's prediction);
5. how it sounds: PESQ (wide band), STOI and segmental SNR of the re-read file against the clean segment
   (`sercore.quality`; NaN with `quality_note` where a metric cannot be computed).
"""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import io
from .attack_job import (
    _assemble,
    _chunk_ok,
    _fresh_chunk_dir,
    chunk_plan,
    chunk_seed,
    example_samples,
    examples_path,
    sample_rows,
    target_model_and_data,
)
from .attacks import attack_info
from .datasets import corpus_root
from .env import JobEnv, seed_everything
from .errors import DataError, JobError
from .quality import quality_columns
from .specs import AttackJob, FeatureSettings

if TYPE_CHECKING:
    import keras

    from .data import Prepared

log = logging.getLogger(__name__)

PCM16 = "PCM_16"


def snr_db(x: np.ndarray, delta: np.ndarray) -> np.ndarray:
    """Per-sample SNR in dB, 20 log10(||x||_2 / ||delta||_2); +inf where delta is zero."""
    n = len(x)
    signal = np.linalg.norm(np.asarray(x, np.float64).reshape(n, -1), axis=1)
    noise = np.linalg.norm(np.asarray(delta, np.float64).reshape(n, -1), axis=1)
    with np.errstate(divide="ignore"):
        return np.where(noise > 0, 20.0 * np.log10(np.maximum(signal, 1e-30) / np.where(noise > 0, noise, 1.0)),
                        np.inf)


def l2_budget(x: np.ndarray, target_db: float) -> np.ndarray:
    """Per-sample L2 radius whose perturbations have SNR >= target_db: ||x||_2 / 10^(SNR/20)."""
    return np.linalg.norm(np.asarray(x, np.float64).reshape(len(x), -1), axis=1) / 10.0 ** (target_db / 20.0)


def norm_budget(x: np.ndarray, target_db: float, norm: str | float) -> np.ndarray:
    """Per-sample eps in the attack's own norm that keeps SNR >= target_db (L-inf: the L2 radius / sqrt(size))."""
    eps2 = l2_budget(x, target_db)
    if norm == "inf":
        return eps2 / np.sqrt(np.prod(x.shape[1:]))
    return eps2  # p >= 1: ||d||_2 <= ||d||_p, so the L2 radius is a safe bound for p <= 2 and exact for p = 2


def project_l2(x: np.ndarray, x_adv: np.ndarray, radius: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Scale each perturbation down onto its L2 ball (those inside stay); also which ones were scaled."""
    delta = (x_adv.astype(np.float64) - x).reshape(len(x), -1)
    norm = np.linalg.norm(delta, axis=1)
    scale = np.where(norm > radius, radius / np.maximum(norm, 1e-30), 1.0)
    out = np.clip(x + (delta * scale[:, None]).reshape(x.shape), -1.0, 1.0).astype(np.float32)
    return out, scale < 1.0


def wav_round_trip(x_adv: np.ndarray, folder: Path, samples: np.ndarray, sr: int) -> np.ndarray:
    """Write each waveform as a 16-bit WAV (`<sample>.wav`, atomically) and read it back: what a listener gets."""
    import soundfile as sf

    folder.mkdir(parents=True, exist_ok=True)
    out = np.empty_like(x_adv, dtype=np.float32)
    for i, (sample, wave) in enumerate(zip(samples, x_adv, strict=True)):
        path = folder / f"{int(sample):06d}.wav"
        with io.atomic_path(path) as tmp:
            sf.write(tmp, np.clip(wave, -1.0, 1.0), sr, subtype=PCM16, format="WAV")
        out[i] = sf.read(path, dtype="float32")[0]
    return out


def rebuild_waveforms(meta: pd.DataFrame, root: Path, fs: FeatureSettings) -> np.ndarray:
    """(n, samples) waveforms of the test rows `meta` (path, version, chunk), each file segmented once."""
    from .extraction import segment_waveforms

    out = np.empty((len(meta), int(round(fs.segment_s * fs.sample_rate))), np.float32)
    for path, rows in meta.groupby("path", sort=False):
        file = Path(str(path)) if Path(str(path)).is_absolute() else root / str(path)
        waves, versions, chunks = segment_waveforms(file, fs)
        where = {(v, c): i for i, (v, c) in enumerate(zip(versions, chunks, strict=True))}
        for pos, version, chunk in zip(rows.index, rows["version"], rows["chunk"], strict=True):
            if (str(version), int(chunk)) not in where:
                raise DataError(f"{file}: segment {version}/{chunk} of the feature store not rebuilt from the audio "
                                "(corpus changed since the store was built?)")
            out[pos] = waves[where[(str(version), int(chunk))]]
    return out


def fold_shape(samples: int) -> tuple[int, int, int]:
    """(rows, width, 1) with rows the largest divisor of `samples` <= its square root (48,000: 200 rows of 240):
    the near-square image ART's SquareAttack needs (its squares must fit; its L2 tiling wants rows <= width).
    A square of side k is k bursts of k consecutive samples, one row (15 ms at 16 kHz) apart."""
    rows = max(d for d in range(1, int(np.sqrt(samples)) + 1) if samples % d == 0)
    return rows, samples // rows, 1


def _folded(composed: keras.Model, shape: tuple[int, ...]) -> keras.Model:
    """`composed` behind a reshape from `shape` to the flat waveform: the same function of the same samples."""
    import keras

    image = keras.Input(shape=shape, name="folded_waveform")
    flat = keras.layers.Reshape((int(np.prod(shape)),))(image)
    return keras.Model(image, composed(flat), name=f"{composed.name}_folded")


class WaveformAttacker:
    """The composed model's estimator, built once; the ART attack per chunk (its eps is per sample)."""

    def __init__(self, job: AttackJob, model: keras.Model, data: Prepared) -> None:
        from .estimator import make_classifier
        from .frontend import waveform_model

        fs = job.target.data.features
        self.job, self.sr = job, fs.sample_rate
        composed = waveform_model(model, fs, job.target.data.normalization, data.dataset_max, data.mean, data.std)
        self.info = attack_info(job.attack)
        samples = int(composed.input_shape[-1])
        self.shape: tuple[int, ...] = fold_shape(samples) if self.info.image_input else (samples,)
        if self.info.image_input:
            composed = _folded(composed, self.shape)
        self.output = job.target.model.output  # logits: the loss and every gradient take the logits
        self.estimator = make_classifier(composed, len(data.classes), (-1.0, 1.0), compiled=True,
                                         max_batch=job.batch_size, from_logits=self.output == "logits")

    def _build(self, params: Any) -> Any:
        return self.info.build(self.estimator, params, self.job.batch_size, fast=False)

    def _run(self, attack: Any, x: np.ndarray, y: np.ndarray | None) -> np.ndarray:
        """One ART generate on (folded) waveforms; flat float32 waveforms back."""
        out = attack.generate(x.reshape(len(x), *self.shape), y=y)
        return np.asarray(out, dtype=np.float32).reshape(len(x), -1)

    def _generate(self, x: np.ndarray, y: np.ndarray | None) -> np.ndarray:
        """The attack with each sample's SNR budget as its eps (and eps_step scaled by the parameters' ratio);
        attacks whose ART eps must be a number run one sample at a time."""
        params = self.job.params
        if self.job.snr_db is None or "eps" not in type(params).model_fields:
            return self._run(self._build(params), x, y)
        kw = params.kwargs()
        eps = norm_budget(x, self.job.snr_db, kw.get("norm", "inf")).astype(np.float32)
        step = {"eps_step": eps * float(kw["eps_step"]) / float(kw["eps"])} if "eps_step" in kw else {}
        if not self.info.scalar_eps:
            attack = self._build(params)
            attack.set_params(eps=eps[:, None], **{k: v[:, None].astype(np.float32) for k, v in step.items()})
            return self._run(attack, x, y)
        out = np.empty_like(x, dtype=np.float32)
        for i in range(len(x)):
            one = params.model_copy(update={"eps": float(eps[i])} | {k: float(v[i]) for k, v in step.items()})
            out[i] = self._run(self._build(one), x[i : i + 1], None if y is None else y[i : i + 1])[0]
        return out

    def _proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (the rows' loss uses them): through softmax for a logits model."""
        from .models import probabilities

        return probabilities(self.predict(x), self.output)

    def predict(self, x: np.ndarray) -> np.ndarray:
        """The model's output on flat waveforms (folded first where the estimator takes images)."""
        return np.asarray(self.estimator.predict(x.reshape(len(x), *self.shape)))

    def run(self, x: np.ndarray, y_true: np.ndarray, chunk: int, wav_dir: Path,
            idx: np.ndarray) -> tuple[np.ndarray, dict[str, Any], float]:
        seed_everything(chunk_seed(self.job.target.data.seed, chunk))
        p_clean = self._proba(x)
        y = None if self.job.labels == "predicted" else np.eye(self.estimator.nb_classes, dtype=np.float32)[y_true]
        t0 = time.perf_counter()
        x_adv = self._generate(x, y)
        generate_s = time.perf_counter() - t0
        projected = np.zeros(len(x), bool)
        if self.job.snr_db is not None and "eps" not in type(self.job.params).model_fields:
            x_adv, projected = project_l2(x, x_adv, l2_budget(x, self.job.snr_db))
        y_float = self.predict(x_adv).argmax(axis=1)
        heard = wav_round_trip(x_adv, wav_dir, idx, self.sr)
        cols = sample_rows(x, heard, y_true, p_clean, self._proba(heard))
        cols |= {"y_adv_float": y_float.astype(np.int64), "snr_db_achieved": snr_db(x, heard - x),
                 "projected": projected} | quality_columns(x, heard, self.sr)
        return heard, cols, generate_s


def attack_waveforms(job: AttackJob, data: Prepared, model: keras.Model, root: Path, workdir: Path) -> pd.DataFrame:
    """`attack_job.attack_prepared` for `domain: waveform`: same chunks, resume and rows, plus the sound's columns."""
    if job.domain != "waveform":
        raise JobError(f"attack_waveforms needs domain waveform (got {job.domain})")
    meta = data.meta_test.reset_index(drop=True)
    plan = chunk_plan(len(data.x_test), job)
    wanted = np.concatenate([i for _, i in plan]) if plan else np.zeros(0, np.int64)
    examples = example_samples(wanted, meta["gender"].astype(str).to_numpy(), job.examples)
    chunk_dir = Path(workdir) / "chunks"
    _fresh_chunk_dir(chunk_dir, job)
    attacker: WaveformAttacker | None = None
    for chunk, idx in plan:
        path = chunk_dir / f"chunk-{chunk:05d}.parquet"
        if path.exists() and _chunk_ok(path, len(idx), bool(np.isin(idx, examples).any())):
            continue
        attacker = attacker or WaveformAttacker(job, model, data)
        x = rebuild_waveforms(meta.iloc[idx].reset_index(drop=True), root, job.target.data.features)
        heard, cols, generate_s = attacker.run(x, np.asarray(data.y_test[idx], np.int64), chunk,
                                               Path(workdir) / "wav", idx)
        keep = np.isin(idx, examples)
        if keep.any():  # the report's listening panel: playable as they are
            io.write_npz(examples_path(chunk_dir, chunk), sample=idx[keep], clean=x[keep],
                         adversarial=heard[keep])
        rows = pd.DataFrame({"sample": idx.astype(np.int64), "chunk": chunk} | cols)
        rows["chunk_generate_s"] = generate_s
        io.write_parquet(rows, path)
        log.info("%s (waveform) chunk %d: %d samples in %.1f s", job.attack, chunk, len(idx), generate_s)
    rows = _assemble(job, meta, plan, chunk_dir, Path(workdir))
    rows["domain"], rows["snr_db"] = job.domain, job.snr_db
    return rows


def run_waveform_attack(job: AttackJob, workdir: Path, env: JobEnv) -> pd.DataFrame:
    """The attack stage's entry for `domain: waveform` (sercore.jobs): one row per attacked sample."""
    model, data = target_model_and_data(job, env)
    root = corpus_root(job.target.data.corpus, Path(env.cache_dir))
    return attack_waveforms(job, data, model, root, Path(workdir))
