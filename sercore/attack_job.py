"""Run one attack configuration on one trained model over one slice of its test set; one row per attacked sample.

The test set (after `limit`) is cut into a fixed grid of chunks of `chunk_size` samples; slice k of `slices`
takes a contiguous run of whole chunks. Each chunk is attacked on its own, with numpy/TF seeded from (data seed,
chunk index), and persisted in `workdir/chunks/` as soon as it is done. So a killed or requeued job redoes only
the missing chunks, and the rows of all slices equal the rows of the unsliced job exactly, even for the attacks
that draw random numbers (JSMA's random targets, PixelAttack, BoundaryAttack).

Metrics follow the paper (attacks.ipynb): ART generates against the model's predictions (labels=predicted, no y
passed) while accuracy is scored against the true labels; perturbation is the mean |x_adv - x| per cell in
standardised units. We add L0/L2/L-inf norms, the loss on the adversarial example and success (prediction changed),
and two reliability columns per sample (`grad_flag`, `stochastic`: `model_checks`).
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import math
import shutil
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from . import artefacts, io
from .attack_params import params_json
from .attacks import attack_info
from .env import JobEnv, seed_everything
from .errors import DataError, JobError
from .specs import AttackJob, DataSpec

if TYPE_CHECKING:
    import keras

    from .data import Prepared

log = logging.getLogger(__name__)

# Cells whose change is below this count as unchanged for L0: PixelAttack's round trip through ART's [0, 255]
# rescaling leaves float32 noise (~1e-7 relative) on every cell, which is not a perturbation.
L0_ATOL = 1e-5


def chunk_plan(n_test: int, job: AttackJob) -> list[tuple[int, np.ndarray]]:
    """(global chunk index, test-set indices) of the chunks this job's slice owns."""
    n = n_test if job.limit is None else min(n_test, job.limit)
    n_chunks = math.ceil(n / job.chunk_size)
    mine = np.array_split(np.arange(n_chunks), job.slices)[job.slice]
    return [(int(c), np.arange(c * job.chunk_size, min(n, (c + 1) * job.chunk_size))) for c in mine]


def delta_path(chunk_dir: Path, chunk: int) -> Path:
    """Where a chunk's adversarial deltas live (`sample`, `delta` float16 (n, frames, mels))."""
    return Path(chunk_dir) / f"chunk-{chunk:05d}.delta.npz"


def examples_path(chunk_dir: Path, chunk: int) -> Path:
    """Where a chunk's kept examples live (`sample`, `clean`, `adversarial`)."""
    return Path(chunk_dir) / f"chunk-{chunk:05d}.examples.npz"


def chunk_seed(seed: int, chunk: int) -> int:
    """Independent, reproducible seed per (data seed, chunk): slices and resumes see the same random numbers."""
    return int(np.random.SeedSequence([seed, chunk]).generate_state(1)[0])


def example_samples(indices: np.ndarray, gender: np.ndarray, k: int) -> np.ndarray:
    """Up to k test indices for the report's figures, alternating female/male when both occur (paper: one each)."""
    order: list[int] = []
    by_gender = [list(indices[gender[indices] == g]) for g in ("female", "male")]
    by_gender.append(list(indices[~np.isin(gender[indices], ["female", "male"])]))
    while len(order) < k and any(by_gender):
        for group in by_gender:
            if group and len(order) < k:
                order.append(int(group.pop(0)))
    return np.array(sorted(order), dtype=np.int64)


def sample_rows(x: np.ndarray, x_adv: np.ndarray, y_true: np.ndarray, p_clean: np.ndarray, p_adv: np.ndarray) -> dict:
    """Per-sample predictions, loss and perturbation norms (flattened over all cells)."""
    n = len(x)
    delta = (x_adv.astype(np.float64) - x.astype(np.float64)).reshape(n, -1)
    absd = np.abs(delta)
    p_true = p_adv[np.arange(n), y_true]
    return {
        "y_true": y_true.astype(np.int64),
        "y_clean": p_clean.argmax(axis=1).astype(np.int64),
        "y_adv": p_adv.argmax(axis=1).astype(np.int64),
        "loss_adv": -np.log(np.clip(p_true, 1e-7, 1.0)).astype(np.float64),
        "perturbation": absd.mean(axis=1),
        "l0": (absd > L0_ATOL).sum(axis=1).astype(np.int64),
        "l2": np.sqrt((delta**2).sum(axis=1)),
        "linf": absd.max(axis=1),
    }


def gradient_flags(grads: np.ndarray) -> np.ndarray:
    """Per sample 'nan', 'inf', 'zero' (all cells exactly 0) or 'ok', as ART's loss_gradient_check (first match)."""
    g = np.asarray(grads).reshape(len(grads), -1)
    flags = np.full(len(g), "ok", dtype=object)
    flags[(g == 0).all(axis=1)] = "zero"
    flags[np.isinf(g).any(axis=1)] = "inf"
    flags[np.isnan(g).any(axis=1)] = "nan"
    return flags.astype(str)


def model_checks(estimator: Any, x: np.ndarray, y: np.ndarray, p_clean: np.ndarray,
                 p_again: np.ndarray | None = None) -> dict:
    """Reliability columns (beyond the paper; runner/reduce/attack_checks.py reads them): `grad_flag`, the loss
    gradient at the clean input for the labels the attack uses (one batched loss_gradient call: ART's
    loss_gradient_check does one call per sample), and `stochastic`, whether a second prediction of the clean input
    differs from the first (a randomised model; `p_again`: that second prediction on p_clean's scale, else the
    estimator's raw output). Computed after the attack, so its random numbers are unchanged."""
    grads = estimator.loss_gradient(x, y)
    again = estimator.predict(x) if p_again is None else p_again
    return {"grad_flag": gradient_flags(grads),
            "stochastic": ~np.isclose(again, p_clean, rtol=1e-4, atol=1e-6).all(axis=1)}


def job_columns(job: AttackJob) -> dict[str, Any]:
    """Columns shared by every row of the job: the attack, its parameters and the attacked model.

    The parameters are stored once, as `params` (canonical JSON, every parameter); the reducer derives the
    `param_<name>` columns of its results from it."""
    data = job.target.data
    return {"attack": job.attack, "params": params_json(job.params.kwargs()),
        "dataset": data.corpus.name,
        "language": data.corpus.language_code,
        "protocol": data.protocol,
        "seed": data.seed,
        "split_seed": data.effective_split_seed,
        "arch": job.target.model.label,
        "model_output": job.target.model.output,  # "softmax": the attack's gradients were of probabilities
        "model_id": job.target.job_id,
        "slice": job.slice,
        "slices": job.slices,
        "labels": job.labels,
        "estimator": job.estimator,
        "batch_size": job.batch_size,
        **({"check": job.check} if job.check else {}),  # a failure check's rows (absent on every other job)
    }


class _Attacker:
    """The estimator and ART attack, built once and only if some chunk still needs attacking."""

    def __init__(self, job: AttackJob, model: keras.Model, n_classes: int, clip: tuple) -> None:
        from .estimator import make_classifier

        self.job = job
        compiled = job.estimator == "compiled"
        logits = job.target.model.output == "logits"  # the estimator, and every gradient attack, take the logits
        self.estimator = _shared(
            ("estimator", id(model), n_classes, tuple(clip), compiled, job.batch_size, logits),
            lambda: make_classifier(model, n_classes, clip, compiled=compiled, max_batch=job.batch_size,
                                    from_logits=logits),
        )
        self.attack = attack_info(job.attack).build(self.estimator, job.params, job.batch_size)

    def run(self, x: np.ndarray, y_true: np.ndarray, chunk: int) -> tuple[np.ndarray, dict, float]:
        seed_everything(chunk_seed(self.job.target.data.seed, chunk))
        n_classes = self.estimator.nb_classes
        p_clean = self._proba(x)
        y = None if self.job.labels == "predicted" else np.eye(n_classes, dtype=np.float32)[y_true]
        before = dict(self.estimator.evals)
        t0 = time.perf_counter()
        x_adv = self.attack.generate(x, y=y)
        generate_s = time.perf_counter() - t0
        # sample-evaluations `generate` made (the estimator counts them): what the cost model's `typical` is
        # fitted from (benchmarks/typical.py)
        evals = {f"chunk_evals_{k.lower()}": int(self.estimator.evals.get(k, 0) - before.get(k, 0)) for k in "FG"}
        x_adv = np.asarray(x_adv, dtype=np.float32)
        cols = sample_rows(x, x_adv, y_true, p_clean, self._proba(x_adv)) | evals
        y_used = np.eye(n_classes, dtype=np.float32)[p_clean.argmax(axis=1)] if y is None else y
        return x_adv, cols | model_checks(self.estimator, x, y_used, p_clean, self._proba(x)), generate_s

    def _proba(self, x: np.ndarray) -> np.ndarray:
        """Class probabilities (the rows' loss uses them): the estimator's outputs, through softmax for logits."""
        from .models import probabilities

        return probabilities(self.estimator.predict(x), self.job.target.model.output)


def resynth_columns(job: AttackJob, data: Prepared, x: np.ndarray, x_adv: np.ndarray,
                    proba: Callable[[np.ndarray], np.ndarray]) -> dict[str, np.ndarray]:
    """`y_clean_resynth`, `y_adv_resynth`: the predictions on the clean and adversarial inputs' round trip through
    sound (sercore.resynthesis) for the chunk's first `job.resynth` samples; -1: not checked (the rest, or every
    sample of a model whose normalisation the inversion cannot undo). The clean round trip is the control."""
    cols = {"y_clean_resynth": np.full(len(x), -1, np.int64), "y_adv_resynth": np.full(len(x), -1, np.int64)}
    k = min(job.resynth, len(x))
    if k and job.target.data.normalization == "original":
        from .resynthesis import resynthesised

        for name, inputs in (("y_clean_resynth", x), ("y_adv_resynth", x_adv)):
            back = resynthesised(inputs[:k], job.target.data.features, "original", data.mean, data.std)
            cols[name][:k] = proba(back).argmax(axis=1)
    return cols


def _fresh_chunk_dir(chunk_dir: Path, job: AttackJob) -> None:
    """Keep finished chunks only if they were made by this very job (same id); else start over."""
    manifest = chunk_dir / "manifest.json"
    if manifest.exists() and (why := artefacts.problem(artefacts.check_manifest, manifest)):
        # Whose chunks these are is unknown now: set them aside with the manifest (kept) and start over.
        moved = io.set_aside(chunk_dir, Path(chunk_dir).parent / "quarantine", why)
        log.warning("%s; chunks set aside to %s, redoing them", why, moved)
    if manifest.exists() and json.loads(manifest.read_text()).get("job_id") != job.job_id:
        log.warning("%s holds chunks of another job: discarding them", chunk_dir)
        shutil.rmtree(chunk_dir)
    if not manifest.exists():
        io.write_json(manifest, {"job_id": job.job_id, "job": job.model_dump(mode="json")})


def _chunk_ok(path: Path, n_rows: int, with_examples: bool) -> bool:
    """A persisted chunk is reused only if it reads back whole; else it is set aside (kept) and redone.

    A job killed while the filesystem lost data, or a copy gone wrong, leaves a truncated file that would
    otherwise fail every rerun with pyarrow's "Could not open Parquet input source '<Buffer>'"."""
    examples = path.with_name(path.name.replace(".parquet", ".examples.npz"))
    problem = io.parquet_problem(path, ("sample", "y_adv"), n_rows)
    if problem is None and with_examples:
        try:
            with np.load(examples) as z:
                z["adversarial"].shape  # noqa: B018 - reading it is the check
        except (OSError, ValueError, KeyError, EOFError) as exc:
            problem = f"examples file {examples.name} unreadable ({type(exc).__name__}: {exc})"
    if problem is None:
        return True
    moved = io.set_aside(path, path.parent / "quarantine", problem)
    if examples.exists():
        io.set_aside(examples, path.parent / "quarantine", problem)
    log.warning("%s: %s; set aside to %s, redoing the chunk", path, problem, moved)
    return False


def attack_prepared(job: AttackJob, data: Prepared, model: keras.Model, workdir: Path) -> pd.DataFrame:
    """The body of `run_attack` once data and model are in memory (tests feed them directly)."""
    n_classes = len(data.classes)
    if int(model.output_shape[-1]) != n_classes:
        raise JobError(f"model has {model.output_shape[-1]} outputs but the data has {n_classes} classes")
    check_head(model, job.target.model.output)
    meta = data.meta_test.reset_index(drop=True)
    gender = meta["gender"].astype(str).to_numpy()
    plan = chunk_plan(len(data.x_test), job)
    if not plan:
        log.warning("slice %d of %d holds no chunk (test set too small for this many slices)", job.slice, job.slices)
    examples = example_samples(np.concatenate([idx for _, idx in plan]) if plan else np.zeros(0, int), gender,
                               job.examples)
    chunk_dir = Path(workdir) / "chunks"
    _fresh_chunk_dir(chunk_dir, job)
    attacker: _Attacker | None = None
    if job.resynth and job.target.data.normalization != "original":
        log.warning("resynth %d: not checked, normalisation %s cannot be inverted to sound (only original)",
                    job.resynth, job.target.data.normalization)
    for chunk, idx in plan:
        path = chunk_dir / f"chunk-{chunk:05d}.parquet"
        if path.exists() and _chunk_ok(path, len(idx), bool(np.isin(idx, examples).any())):
            continue
        attacker = attacker or _Attacker(job, model, n_classes, tuple(data.clip_values))
        x = np.asarray(data.x_test[idx], dtype=np.float32)
        x_adv, cols, generate_s = attacker.run(x, np.asarray(data.y_test[idx], np.int64), chunk)
        if job.resynth:  # after the attack and its checks: their random numbers are unchanged
            cols |= resynth_columns(job, data, x, x_adv, attacker._proba)
        _persist_chunk(path, chunk, idx, (x, x_adv), cols | {"chunk_generate_s": generate_s}, np.isin(idx, examples))
        log.info("%s chunk %d: %d samples in %.1f s", job.attack, chunk, len(idx), generate_s)
    return _assemble(job, meta, plan, chunk_dir, Path(workdir))


def _persist_chunk(path: Path, chunk: int, idx: np.ndarray, inputs: tuple[np.ndarray, np.ndarray],
                   cols: dict[str, Any], keep: np.ndarray) -> None:
    """A chunk's files, its rows last so a chunk with rows always has the others: the adversarial inputs
    themselves for the transfer stage (x_adv - x in float16; docs/attacks.md gives the disk cost), the kept
    examples, then the rows."""
    x, x_adv = inputs
    io.write_npz_compressed(delta_path(path.parent, chunk), sample=idx.astype(np.int64),
                            delta=(x_adv - x)[..., 0].astype(np.float16))
    if keep.any():
        io.write_npz(examples_path(path.parent, chunk), sample=idx[keep], clean=x[keep, ..., 0],
                     adversarial=x_adv[keep, ..., 0])
    io.write_parquet(pd.DataFrame({"sample": idx.astype(np.int64), "chunk": chunk} | cols), path)


def _assemble(job: AttackJob, meta: pd.DataFrame, plan: list, chunk_dir: Path, workdir: Path) -> pd.DataFrame:
    """Rows of every chunk of the slice plus sample and job columns; writes examples.npz."""
    frames = [_read_chunk(chunk_dir / f"chunk-{c:05d}.parquet") for c, _ in plan]
    rows = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["sample", "chunk"])
    m = meta.iloc[rows["sample"].to_numpy()]
    for col in ("emotion", "gender", "speaker", "path"):
        if col in m:
            rows.insert(1, col, m[col].astype(str).to_numpy())
    # Stable ids across models of one corpus: the store row and the source recording (`sample` is only the
    # index into this model's test set).
    if "segment" in m:
        rows.insert(1, "segment", m["segment"].to_numpy(np.int64))
    if "recording" in m:
        rows.insert(1, "recording", m["recording"].astype(str).to_numpy())
    generate_s = float(rows.groupby("chunk")["chunk_generate_s"].first().sum()) if len(rows) else 0.0
    for k, v in job_columns(job).items():
        rows[k] = v
    rows["generate_s"] = generate_s
    rows["samples_per_s"] = len(rows) / generate_s if generate_s > 0 else float("nan")
    _write_examples(rows, chunk_dir, [c for c, _ in plan], workdir / "examples.npz")
    return rows


def _read_chunk(path: Path) -> pd.DataFrame:
    try:
        return pd.read_parquet(path)
    except (OSError, ValueError) as exc:  # pyarrow's errors name a '<Buffer>', not the file
        raise JobError(f"{path}: unreadable attack chunk ({type(exc).__name__}: {str(exc).splitlines()[0]})") from exc


def _write_examples(rows: pd.DataFrame, chunk_dir: Path, chunks: list[int], path: Path) -> None:
    parts = [np.load(p) for c in chunks if (p := examples_path(chunk_dir, c)).exists()]
    sample = np.concatenate([p["sample"] for p in parts]) if parts else np.zeros(0, np.int64)
    clean = np.concatenate([p["clean"] for p in parts]) if parts else np.zeros((0, 261, 128), np.float32)
    adv = np.concatenate([p["adversarial"] for p in parts]) if parts else np.zeros((0, 261, 128), np.float32)
    by = rows.set_index("sample").loc[sample] if len(sample) else rows.iloc[:0]
    io.write_npz(path, clean=clean, adversarial=adv, sample=sample, gender=by["gender"].to_numpy(dtype=str),
                 y_true=by["y_true"].to_numpy(np.int64), y_clean=by["y_clean"].to_numpy(np.int64),
                 y_adv=by["y_adv"].to_numpy(np.int64))


# Inside reuse_models(): what successive jobs of one process share (one model at a time), else None.
_SHARED: dict[tuple, Any] | None = None


@contextlib.contextmanager
def reuse_models() -> Iterator[None]:
    """Successive attack jobs in this block share each model, its data and its compiled estimator.

    runner/pack.py runs a pack of jobs inside it: a model is loaded, and its predict/gradient functions traced,
    once per pack instead of once per job. Results are unchanged: every chunk reseeds numpy/TF, and the
    estimator holds no state between calls besides its traced functions.
    """
    global _SHARED
    outer = _SHARED
    _SHARED = {} if outer is None else outer
    try:
        yield
    finally:
        if outer is None:
            _SHARED = None


def _shared(key: tuple, make: Callable[[], Any]) -> Any:
    """make() outside reuse_models(); inside, one value per key, dropping everything when a new model comes."""
    if _SHARED is None:
        return make()
    if key not in _SHARED:
        if key[0] == "model":
            _SHARED.clear()  # packs are grouped by model: keep one model (and its estimators) in memory
        _SHARED[key] = make()
    return _SHARED[key]


def load_model(upstream: Path | None) -> keras.Model:
    """The trained model of the target job (its artefact folder is handed over as JobEnv.upstream)."""
    import keras

    if upstream is None:
        raise JobError("attack job needs the train job's artefact folder (JobEnv.upstream is None)")
    path = Path(upstream) / "model.keras"
    if not path.exists():
        raise JobError(f"{path}: trained model not found (has the train job finished?)")
    artefacts.check_model(path)  # else Keras says "File not found" of a truncated file that is there
    try:
        return keras.models.load_model(path, compile=False)
    except (OSError, ValueError) as exc:
        raise DataError(f"{path}: trained model does not load ({type(exc).__name__}: {str(exc)[:160]})") from exc


def check_head(model: keras.Model, output: str) -> None:
    """The loaded model must emit what its spec says (softmax or logits): the estimator's loss depends on it."""
    from .models import head_output

    found = head_output(model)
    if found is not None and found != output:
        raise JobError(f"model.output: the spec says {output!r} but the trained model's head emits {found!r}")


def check_scaler(upstream: Path, data: Prepared) -> None:
    """The rebuilt test set must be the one the model was trained with: same classes and clip values."""
    path = Path(upstream) / "scaler.npz"
    if not path.exists():
        return
    s = artefacts.check_scaler(path)
    classes, clip = tuple(str(c) for c in s["classes"]), (float(s["clip_min"]), float(s["clip_max"]))
    if classes != tuple(data.classes):
        raise JobError(f"{path}: classes {list(classes)} differ from the rebuilt data's {list(data.classes)}")
    if not np.allclose(clip, tuple(map(float, data.clip_values))):
        raise JobError(f"{path}: clip values {clip} differ from the rebuilt data's {tuple(data.clip_values)}")


@functools.lru_cache(maxsize=1)
def _prepare_once(spec: DataSpec, cache_dir: Path) -> Prepared:
    """Successive attack jobs on one model in one process (the CLI, a worker) rebuild the data once."""
    from . import data

    return data.prepare(spec, cache_dir)


def target_model_and_data(job: AttackJob, env: JobEnv) -> tuple[keras.Model, Prepared]:
    """The attacked model (shared within a pack) and its rebuilt data, checked to be the data it was trained on."""
    upstream = env.upstream
    model = _shared(("model", str(upstream)), lambda: load_model(upstream))
    data = _prepare_once(job.target.data, Path(env.cache_dir))
    assert upstream is not None  # load_model raised otherwise
    check_scaler(upstream, data)
    return model, data


def run_attack(job: AttackJob, workdir: Path, env: JobEnv) -> pd.DataFrame:
    """Attack the test set slice of `job.target`'s model; returns one row per attacked sample."""
    model, data = target_model_and_data(job, env)
    return attack_prepared(job, data, model, Path(workdir))


def summarize(rows: pd.DataFrame) -> dict[str, Any]:
    """The paper's metrics from the rows: accuracy under attack (true labels) overall/male/female, and more."""
    from .metrics import accuracy_by_gender

    y, gender = rows["y_true"].to_numpy(), rows["gender"].astype(str).to_numpy()
    adv = accuracy_by_gender(y, rows["y_adv"].to_numpy(), gender)
    clean = accuracy_by_gender(y, rows["y_clean"].to_numpy(), gender)
    gen = float(rows.groupby(["slice", "chunk"])["chunk_generate_s"].first().sum()) if len(rows) else 0.0
    return {
        "n": len(rows),
        "n_male": int((gender == "male").sum()),
        "n_female": int((gender == "female").sum()),
        "clean": clean["overall"],
        "accuracy": adv["overall"],
        "accuracy_male": adv["male"],
        "accuracy_female": adv["female"],
        "success": float((rows["y_adv"] != rows["y_clean"]).mean()) if len(rows) else float("nan"),
        "perturbation": float(rows["perturbation"].mean()) if len(rows) else float("nan"),
        "generate_s": gen,
    }
