"""The feature store: one cache entry per (corpus, emotions, feature settings, corpus fingerprint).

An entry is a folder `cache_dir/features/<corpus>-<key>/` holding `meta.parquet` (one row per segment),
`x.npy` (float32 (N, 261, 128) dB log-Mels, opened memory-mapped), `files.parquet` (one row per file, kept or
not, with the reason) and `settings.json`. It is built in a temp folder and renamed into place, so a reader sees
a whole entry or none; every later job reuses it. The fingerprint is cheap on purpose (sorted relative paths,
sizes and mtimes, a stat per file, no hashing) because `prepare` computes it on every train and attack job;
editing, adding or removing a file changes it and triggers a rebuild.

This module owns the cache; the extraction and its process pool live in `sercore.extraction`, the build in a
fresh interpreter in `sercore.store_child`, the `features` job in `sercore.features_job`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq

from .artefacts import check_finite, check_npy, check_parquet, problem
from .datasets import corpus_root, kept, load_corpus, loader_for
from .errors import DataError
from .extraction import FileFeatures, default_workers, run_parallel
from .io import atomic_dir, set_aside, write_json, write_parquet
from .specs import CorpusSpec, FeatureSettings
from .store_child import build_in_subprocess

log = logging.getLogger(__name__)

STORE_FORMAT = 1
FILE_TABLE_COLUMNS = ["dataset", "path", "speaker", "gender", "emotion", "kept", "reason", "n_segments",
                      "duration_s"]
CHECKED = ".checked.json"  # x.npy's [size, mtime_ns] when its finite scan last passed
NOT_KEPT = "emotion not kept"  # the reason of a good file outside the kept emotions (not a rejection)


@dataclass(frozen=True)
class FeatureStore:
    """A built store entry. `x` is read-only memory-mapped; row i of `meta` describes `x[i]`."""

    path: Path
    key: str
    meta: pd.DataFrame
    x: np.ndarray
    files: pd.DataFrame
    rejected: pd.DataFrame


def fingerprint(spec: CorpusSpec, root: Path) -> str:
    """sha256 over sorted (relative path, size, mtime) of every candidate file the corpus loader lists (and, for
    a manifest corpus, the manifest's content and label options; a listed file that is missing counts too)."""
    loader = loader_for(spec)
    h = hashlib.sha256(loader.fingerprint_extra())
    for p in loader.list_files(root):
        if not p.exists():
            h.update(f"{p.relative_to(root).as_posix()}\tmissing\n".encode())
            continue
        st = p.stat()
        h.update(f"{p.relative_to(root).as_posix()}\t{st.st_size}\t{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def store_key(spec: CorpusSpec, fs: FeatureSettings, fp: str) -> str:
    # The root path and synthetic_per_class are left out on purpose: the fingerprint already says which files
    # these are, so a moved copy or a synthetic corpus named by its folder reuses the same entry.
    key = {"format": STORE_FORMAT, "corpus": spec.name, "emotions": sorted(spec.kept_emotions),
           "features": json.loads(fs.canonical_json()), "fingerprint": fp}
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]


def entry_problem(path: Path) -> str | None:
    """Why a store entry cannot be trusted (named file, problem), or None: meta.parquet's and files.parquet's
    footers read, x.npy is whole, 3-d, one row per meta row, and holds no NaN or infinite segment.

    The finite scan reads the whole array once; its result is remembered in `.checked.json` by x.npy's size and
    mtime, so a cache hit costs a stat (a read-only cache just scans again)."""
    meta = problem(check_parquet, path / "meta.parquet", ("path", "emotion", "gender"))
    if meta:
        return meta
    files = problem(check_parquet, path / "files.parquet", ("path", "kept", "reason"))
    if files:
        return files
    try:
        x = check_npy(path / "x.npy", 3, pq.read_metadata(path / "meta.parquet").num_rows)
        st = (path / "x.npy").stat()
        stamp = [st.st_size, st.st_mtime_ns]
        if _checked(path) != stamp:
            check_finite(x, str(path / "x.npy"))
            with contextlib.suppress(OSError):
                write_json(path / CHECKED, {"x.npy": stamp})
    except DataError as exc:
        return str(exc)
    return None


def _checked(path: Path) -> list[int] | None:
    try:
        return json.loads((path / CHECKED).read_text(encoding="utf-8")).get("x.npy")
    except (OSError, ValueError, AttributeError):
        return None


def _set_aside_entry(final: Path, why: str) -> Path | None:
    """Move a corrupt entry to cache_dir/quarantine/features/<entry>.<UTC time> with its reason (kept)."""
    try:
        return set_aside(final, final.parent.parent / "quarantine" / "features", why)
    except FileNotFoundError:  # another job set it aside first
        return None
    except OSError as exc:  # a read-only shared cache: say what is wrong instead of a traceback
        raise DataError(f"{why}; cannot set the entry aside ({exc.strerror}): rebuild or remove {final}") from exc


def _read_entry(path: Path, key: str) -> FeatureStore:
    meta = pd.read_parquet(path / "meta.parquet")
    x = np.load(path / "x.npy", mmap_mode="r")
    files = pd.read_parquet(path / "files.parquet")
    rejected = files.loc[~files["kept"] & ~files["reason"].isin(["", NOT_KEPT]), ["dataset", "path", "reason"]]
    return FeatureStore(path=path, key=key, meta=meta, x=x, files=files, rejected=rejected.reset_index(drop=True))


def _build(spec: CorpusSpec, fs: FeatureSettings, cache_dir: Path, root: Path, final: Path, key: str,
           workers: int, progress: bool) -> None:
    corpus = load_corpus(spec, cache_dir)
    chosen = kept(corpus.files, spec.kept_emotions)
    if chosen.empty:
        raise DataError(f"{spec.name}: no file of the kept emotions {list(spec.kept_emotions)} in {root}")
    paths = [root / p for p in chosen["path"]]
    t0 = time.perf_counter()
    results = run_parallel(paths, fs, min(workers, len(paths)), progress, f"features {spec.name}")
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
                        f"(expected {loader_for(corpus).layout})")
    key = store_key(corpus, features, fingerprint(corpus, root))
    final = cache_dir / "features" / f"{corpus.name}-{key}"

    def build() -> None:
        n = workers or default_workers()
        # Only a parallel build forks; a serial one is safe in a process that has TensorFlow loaded.
        if n > 1 and "tensorflow" in sys.modules:
            build_in_subprocess(corpus, features, cache_dir, n, progress)
        else:
            _build(corpus, features, cache_dir, root, final, key, n, progress)
        if not (final / "meta.parquet").is_file():
            raise DataError(f"{corpus.name}: feature store {final} missing after its build (corpus changed "
                            "meanwhile?)")

    fresh = not (final / "meta.parquet").is_file()
    if fresh:
        build()
    why = entry_problem(final)
    if why and not fresh:  # a cached entry gone bad (truncated, NaN): set aside, rebuilt once from the audio
        log.warning("%s; set aside to %s, rebuilding the feature store", why, _set_aside_entry(final, why))
        build()
        why = entry_problem(final)
    if why:
        moved = _set_aside_entry(final, why)
        raise DataError(f"{why} (refused; the store was just built from the corpus; set aside to {moved})")
    return _read_entry(final, key)
