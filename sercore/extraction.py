"""Feature extraction of a corpus's files: one file -> its log-Mel segments (`extract`), and the process pool
that runs it over many files (`run_parallel`). `sercore.store` caches what this computes."""

from __future__ import annotations

import multiprocessing
import os
import sys
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import audio, augment, features
from .errors import DataError
from .specs import FeatureSettings

# Worker processes must not each start a full BLAS/numba thread pool on a 2-core node.
_SINGLE_THREAD_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
                      "NUMBA_NUM_THREADS": "1", "TF_NUM_INTRAOP_THREADS": "1"}


@dataclass(frozen=True)
class FileFeatures:
    """What one worker returns for one file."""

    x: np.ndarray
    versions: list[str]
    chunks: list[int]


def segment_waveforms(path: str | Path, fs: FeatureSettings) -> tuple[np.ndarray, list[str], list[int]]:
    """Load, trim, augment and segment one file: its (n, samples) segments with their version and chunk index.

    What `extract` turns into log-Mels, and what waveform-domain attacks perturb (sercore.frontend).
    """
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
    return np.stack(pieces), names, chunks


def extract(path: str | Path, fs: FeatureSettings) -> FileFeatures:
    """Load, trim, augment, segment and log-Mel one file (the unit of parallel work)."""
    waves, names, chunks = segment_waveforms(path, fs)
    x = features.log_mel(waves, fs.sample_rate, fs.n_fft, fs.hop_length, fs.n_mels, fs.fmax, fs.db)
    return FileFeatures(x=x, versions=names, chunks=chunks)


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


def run_parallel(paths: list[Path], fs: FeatureSettings, workers: int,
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
