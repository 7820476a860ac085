"""The feature store: one cache entry per (corpus, emotions, feature settings, corpus fingerprint).

An entry is a folder `cache_dir/features/<corpus>-<key>/` holding `meta.parquet` (one row per segment),
`x.npy` (float32 (N, 261, 128) dB log-Mels, opened memory-mapped), `files.parquet` (one row per file, kept or
not, with the reason) and `settings.json`. It is built in a temp folder and renamed into place, so a reader sees
a whole entry or none; every later job reuses it. The fingerprint is cheap on purpose (sorted relative paths,
sizes and mtimes, a stat per file, no hashing) because `prepare` computes it on every train and attack job;
editing, adding or removing a file changes it and triggers a rebuild.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import audio, augment, features
from .datasets import LOADERS, corpus_root, kept, load_corpus
from .env import JobEnv
from .errors import DataError
from .io import atomic_dir, write_json, write_parquet
from .specs import CorpusSpec, FeatureSettings, FeaturesJob

log = logging.getLogger(__name__)

STORE_FORMAT = 1
FILE_TABLE_COLUMNS = ["dataset", "path", "speaker", "gender", "emotion", "kept", "reason", "n_segments",
                      "duration_s"]
NOT_KEPT = "emotion not kept"  # the reason of a good file outside the kept emotions (not a rejection)
# Worker processes must not each start a full BLAS/numba thread pool on a 2-core node.
_SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                      "NUMBA_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1"}


@dataclass(frozen=True)
class FeatureStore:
    """A built store entry. `x` is read-only memory-mapped; row i of `meta` describes `x[i]`."""

    path: Path
    key: str
    meta: pd.DataFrame
    x: np.ndarray
    files: pd.DataFrame
    rejected: pd.DataFrame


@dataclass(frozen=True)
class FileFeatures:
    """What one worker returns for one file."""

    x: np.ndarray
    versions: list[str]
    chunks: list[int]


def extract(path: str | Path, fs: FeatureSettings) -> FileFeatures:
    """Load, trim, augment, segment and log-Mel one file (the unit of parallel work)."""
    y = audio.trim(audio.load(path, fs.sample_rate), fs.trim_top_db, fs.trim_frame_length, fs.trim_hop_length)
    if y.size == 0:
        raise DataError(f"{path}: nothing left after trimming")
    length = int(round(fs.segment_s * fs.sample_rate))
    signals = augment.versions(y, fs.sample_rate, fs.pitch_steps, fs.stretch_rates) if fs.augment \
        else iter([(augment.ORIGINAL, y)])
    pieces: list[np.ndarray] = []
    names: list[str] = []
    chunks: list[int] = []
    for name, sig in signals:
        segs = audio.segment(sig, length, int(fs.min_tail_s * fs.sample_rate), fs.trim_top_db,
                             fs.trim_frame_length, fs.trim_hop_length)
        pieces += segs
        names += [name] * len(segs)
        chunks += list(range(len(segs)))
    if not pieces:
        raise DataError(f"{path}: no segment survived trimming")
    x = features.log_mel(np.stack(pieces), fs.sample_rate, fs.n_fft, fs.hop_length, fs.n_mels, fs.fmax, fs.db)
    return FileFeatures(x=x, versions=names, chunks=chunks)


def fingerprint(spec: CorpusSpec, root: Path) -> str:
    """sha256 over sorted (relative path, size, mtime) of every candidate file the corpus loader lists."""
    h = hashlib.sha256()
    for p in LOADERS[spec.name]().list_files(root):
        st = p.stat()
        h.update(f"{p.relative_to(root).as_posix()}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def store_key(spec: CorpusSpec, fs: FeatureSettings, fp: str) -> str:
    # The root path and synthetic_per_class are left out on purpose: the fingerprint already says which files
    # these are, so a moved copy or a synthetic corpus named by its folder reuses the same entry.
    key = {"format": STORE_FORMAT, "corpus": spec.name, "emotions": sorted(spec.kept_emotions),
           "features": json.loads(fs.canonical_json()), "fingerprint": fp}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def _read_entry(path: Path, key: str) -> FeatureStore:
    meta = pd.read_parquet(path / "meta.parquet")
    x = np.load(path / "x.npy", mmap_mode="r")
    files = pd.read_parquet(path / "files.parquet")
    rejected = files.loc[~files["kept"] & ~files["reason"].isin(["", NOT_KEPT]), ["dataset", "path", "reason"]]
    return FeatureStore(path=path, key=key, meta=meta, x=x, files=files, rejected=rejected.reset_index(drop=True))


def _mp_context() -> multiprocessing.context.BaseContext:
    """fork on Linux (fast, no re-import); open_store never forks a process that has TensorFlow loaded."""
    return multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")


def _limit_threads() -> None:
    """Worker initializer: one BLAS/OpenMP thread per process (a forked child inherits the parent's pools)."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(1)


def _warm_up(fs: FeatureSettings) -> None:
    """Run every stage once on a short tone in the parent: imports, filterbanks and any JIT compilation then
    happen once, before fork, instead of once per worker (seconds each on a busy node)."""
    import soxr  # noqa: F401  (librosa's resampler, imported lazily on first use)

    tone = (0.3 * np.sin(np.arange(int(1.2 * fs.sample_rate)) * 0.05)).astype(np.float32)
    y = audio.trim(tone, fs.trim_top_db, fs.trim_frame_length, fs.trim_hop_length)
    signals = augment.versions(y, fs.sample_rate, fs.pitch_steps[:1], fs.stretch_rates[:1]) if fs.augment \
        else iter([(augment.ORIGINAL, y)])
    pieces = [p for _, sig in signals for p in audio.segment(sig, int(round(fs.segment_s * fs.sample_rate)))]
    features.log_mel(np.stack(pieces), fs.sample_rate, fs.n_fft, fs.hop_length, fs.n_mels, fs.fmax, fs.db)


def _run_parallel(paths: list[Path], fs: FeatureSettings, workers: int,
                  progress: bool, desc: str) -> list[FileFeatures | BaseException]:
    """extract() over files; a failure is returned in place of the result, never raised.

    BLAS is held to one thread throughout, in this process too: the per-segment matrix products are tiny,
    and a multi-threaded BLAS on a shared node spends more time synchronising than computing. It also makes
    serial and parallel builds give identical numbers.
    """
    from threadpoolctl import threadpool_limits
    from tqdm.auto import tqdm

    results: list[FileFeatures | BaseException] = [RuntimeError("not run")] * len(paths)
    # disable=None: tqdm shows the bar on a terminal only, so batch logs do not fill with carriage returns
    bar = tqdm(total=len(paths), desc=desc, unit="file", disable=None if progress else True, mininterval=1.0)
    with threadpool_limits(1):
        _warm_up(fs)
        if workers <= 1:
            for i, p in enumerate(paths):
                results[i] = _try_extract(p, fs)
                bar.update()
        else:
            _pool_map(paths, fs, workers, results, bar.update)
    bar.close()
    return results


def _try_extract(path: Path, fs: FeatureSettings) -> FileFeatures | BaseException:
    try:
        return extract(path, fs)
    except Exception as exc:
        return exc


def _pool_map(paths: list[Path], fs: FeatureSettings, workers: int,
              results: list[FileFeatures | BaseException], tick: Callable[[], object]) -> None:
    saved = {k: os.environ.get(k) for k in _SINGLE_THREAD_ENV}
    os.environ.update(_SINGLE_THREAD_ENV)  # for spawned workers (non-Linux); forked ones inherit the limits
    try:
        with ProcessPoolExecutor(max_workers=workers, mp_context=_mp_context(),
                                 initializer=_limit_threads) as pool:
            futures = {pool.submit(extract, p, fs): i for i, p in enumerate(paths)}
            for fut in as_completed(futures):
                exc = fut.exception()
                if isinstance(exc, BrokenProcessPool):
                    raise DataError(f"feature workers died while processing {paths[futures[fut]]}: {exc}") \
                        from exc
                results[futures[fut]] = exc if exc is not None else fut.result()
                tick()
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


def _build(spec: CorpusSpec, fs: FeatureSettings, cache_dir: Path, root: Path, final: Path, key: str,
           workers: int, progress: bool) -> None:
    corpus = load_corpus(spec, cache_dir)
    chosen = kept(corpus.files, spec.kept_emotions)
    if chosen.empty:
        raise DataError(f"{spec.name}: no file of the kept emotions {list(spec.kept_emotions)} in {root}")
    paths = [root / p for p in chosen["path"]]
    t0 = time.perf_counter()
    results = _run_parallel(paths, fs, min(workers, len(paths)), progress, f"features {spec.name}")
    log.info("%s: %d files in %.1f s with %d workers", spec.name, len(paths), time.perf_counter() - t0, workers)
    arrays = [r.x for r in results if isinstance(r, FileFeatures)]
    if not arrays:
        raise DataError(f"{spec.name}: every file of {root} failed feature extraction (first: {results[0]})")
    meta, files_table = _tables(spec, corpus.files, corpus.rejected, chosen, results)
    settings = {"corpus": json.loads(spec.canonical_json()), "root": str(root),
                "features": json.loads(fs.canonical_json()), "key": key}
    _write_entry(final, arrays, meta, files_table, settings)


def _tables(spec: CorpusSpec, files: pd.DataFrame, rejected: pd.DataFrame, chosen: pd.DataFrame,
            results: list[FileFeatures | BaseException]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-segment meta table and the per-file table (every file, kept or not, with its reason)."""
    file_rows = files.assign(kept=False, reason="", n_segments=0)
    file_rows.loc[~file_rows["emotion"].isin(spec.kept_emotions), "reason"] = NOT_KEPT
    pos = {p: j for j, p in enumerate(file_rows["path"])}
    parts = []
    for i, r in enumerate(results):
        j = pos[chosen.at[i, "path"]]
        if isinstance(r, FileFeatures):
            file_rows.loc[j, ["kept", "n_segments"]] = [True, len(r.x)]
            part = pd.DataFrame([chosen.iloc[i].to_dict()] * len(r.x))
            part["version"], part["chunk"] = r.versions, r.chunks
            parts.append(part)
        else:
            file_rows.loc[j, "reason"] = f"feature extraction failed: {str(r).splitlines()[0][:160]}"
            log.warning("%s: skipped %s: %s", spec.name, chosen.at[i, "path"], r)
    meta = pd.concat(parts, ignore_index=True)
    meta.insert(2, "recording", meta["dataset"] + ":" + meta["path"])
    table = pd.concat([file_rows, rejected.assign(kept=False, n_segments=0, duration_s=0.0)], ignore_index=True)
    table = table.reindex(columns=list(dict.fromkeys(FILE_TABLE_COLUMNS + list(file_rows.columns))))
    return meta, table.sort_values("path", ignore_index=True)


def _write_entry(final: Path, arrays: list[np.ndarray], meta: pd.DataFrame, files_table: pd.DataFrame,
                 settings: dict[str, object]) -> None:
    """Write the entry into a temp folder beside `final`, then rename it into place (all or nothing)."""
    with atomic_dir(final) as tmp:
        # Filled array by array: no second (N, 261, 128) copy in memory as np.concatenate would make.
        x = np.lib.format.open_memmap(tmp / "x.npy", mode="w+", dtype=np.float32,
                                      shape=(sum(map(len, arrays)), *arrays[0].shape[1:]))
        at = 0
        for xi in arrays:
            x[at:at + len(xi)] = xi
            at += len(xi)
        x.flush()
        del x
        write_parquet(meta, tmp / "meta.parquet")
        write_parquet(files_table, tmp / "files.parquet")
        write_json(tmp / "settings.json", settings)


def open_store(corpus: CorpusSpec, features: FeatureSettings, cache_dir: Path, *, workers: int | None = None,
               progress: bool = True) -> FeatureStore:
    """Reuse the cache entry for these settings and this corpus copy, or build it (in parallel, atomically)."""
    cache_dir = Path(cache_dir)
    root = corpus_root(corpus, cache_dir)
    if not root.is_dir():
        raise DataError(f"{corpus.name}: corpus root {root} does not exist or is not a folder "
                        f"(expected {LOADERS[corpus.name].layout})")
    key = store_key(corpus, features, fingerprint(corpus, root))
    final = cache_dir / "features" / f"{corpus.name}-{key}"
    if not (final / "meta.parquet").is_file():
        workers = workers or default_workers()
        # Only a parallel build forks; a serial one is safe in a process that has TensorFlow loaded.
        if workers > 1 and "tensorflow" in sys.modules:
            _build_in_subprocess(corpus, features, cache_dir, workers, progress)
        else:
            _build(corpus, features, cache_dir, root, final, key, workers, progress)
    if not (final / "meta.parquet").is_file():
        raise DataError(f"{corpus.name}: feature store {final} missing after its build (corpus changed meanwhile?)")
    return _read_entry(final, key)


def _build_in_subprocess(corpus: CorpusSpec, features: FeatureSettings, cache_dir: Path, workers: int,
                         progress: bool) -> None:
    """Build in a fresh interpreter: forking a process with TensorFlow loaded can deadlock, and spawning
    workers from it re-runs the caller's __main__ (fatal for scripts without a main guard).

    The child reports through its exit status and an error file (sercore/cli/store_build.py)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".store-build-", dir=cache_dir) as tmp:
        error_file = Path(tmp) / "error.txt"
        cmd = [sys.executable, "-m", "sercore.cli.store_build", corpus.canonical_json(), features.canonical_json(),
               str(cache_dir), "--workers", str(workers), "--error-file", str(error_file)]
        cmd += [] if progress else ["--quiet"]
        proc = subprocess.run(cmd, check=False)
        if proc.returncode == 0:
            return
        message = error_file.read_text().strip() if error_file.is_file() else ""
    raise DataError(message or f"{corpus.name}: feature store build failed (exit {proc.returncode}) in a child "
                               f"process; its stderr above says why: {' '.join(cmd[:3])} ...")


def run_features(job: FeaturesJob, workdir: Path, env: JobEnv) -> pd.DataFrame:
    """Job entry point: build (or reuse) the store; one row per file, kept or not, with its reason."""
    store = open_store(job.corpus, job.features, env.cache_dir, progress=False)
    return store.files[FILE_TABLE_COLUMNS].copy()

