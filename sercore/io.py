"""Atomic artefact writes: temp file in the same folder, then os.replace.

Readers (pyarrow.dataset, the reducer, a rerun's skip check) never see a half-written file: temp names start
with '.' so pyarrow's discovery ignores them, and os.replace is atomic within one filesystem.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterator
from datetime import UTC
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd


def _current_umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_UMASK = _current_umask()


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str = ".tmp") -> Iterator[Path]:
    """Yield a temp path beside `path`; on success rename it onto `path`, on failure delete it.

    `suffix` is for writers that insist on a file extension (Keras wants `.keras`)."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.name}.", suffix=suffix, dir=final.parent)
    # mkstemp creates 0600; give the file the mode a plain open() would (umask applied) so shared
    # run folders and reports stay readable by the group/others the user intends.
    os.fchmod(fd, 0o666 & ~_UMASK)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.replace(tmp_path, final)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temp folder beside `path`; on success rename it onto `path` (all or nothing).

    If another process published `path` first (same key, same content), this copy is discarded. On failure the
    temp folder is deleted. The folder gets the mode a plain mkdir would (umask), not mkdtemp's 0700, so a
    cache shared by a group stays readable."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    os.chmod(tmp, 0o777 & ~_UMASK)
    try:
        yield tmp
        try:
            os.rename(tmp, final)
        except OSError:  # a concurrent writer finished the same entry first; keep its copy
            shutil.rmtree(tmp, ignore_errors=True)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """open() whose result appears at `path` only once the block finished without error."""
    with atomic_path(path) as tmp, open(tmp, mode, **kwargs) as fh:
        yield fh


def write_text(path: str | os.PathLike[str], text: str) -> None:
    with atomic_open(path, "w", encoding="utf-8") as fh:
        fh.write(text)


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    write_text(path, json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n")


def write_parquet(df: pd.DataFrame, path: str | os.PathLike[str]) -> None:
    with atomic_path(path) as tmp:
        df.to_parquet(tmp, index=False)


def write_npz(path: str | os.PathLike[str], **arrays: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez(fh, **arrays)  # type: ignore[arg-type]  # numpy stubs type **kwds as allow_pickle


def write_npz_compressed(path: str | os.PathLike[str], **arrays: np.ndarray) -> None:
    """np.savez_compressed, atomically: for bulky arrays that compress well (sparse or few-valued deltas)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)  # type: ignore[arg-type]  # (as above)


def parquet_footer(path: str | os.PathLike[str], columns: tuple[str, ...] = (),
                   min_rows: int = 1) -> tuple[Any, str | None]:
    """(footer metadata or None, why the finished Parquet file cannot be trusted or None).

    Reads the footer only (~0.3 ms): a file truncated by a killed job or a copy gone wrong has no footer;
    missing columns or too few rows are the other problems."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        meta = pq.read_metadata(path)
    except (pa.ArrowException, OSError) as exc:
        return None, f"unreadable Parquet ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})"
    missing = [c for c in columns if c not in meta.schema.names]
    if missing:
        return meta, f"columns missing: {', '.join(missing)}"
    if meta.num_rows < min_rows:
        return meta, f"{meta.num_rows} rows (expected at least {min_rows})"
    return meta, None


def parquet_problem(path: str | os.PathLike[str], columns: tuple[str, ...] = (), min_rows: int = 1) -> str | None:
    """Why a finished Parquet file cannot be trusted, or None (see `parquet_footer`)."""
    return parquet_footer(path, columns, min_rows)[1]


def set_aside(path: str | os.PathLike[str], folder: str | os.PathLike[str], reason: str) -> Path:
    """Move a corrupt artefact into `folder` as `<stem>.<UTC time><suffix>` with a `.reason.txt` beside it.

    Never deletes: the file is kept for inspection, and the caller redoes the work."""
    from datetime import datetime

    src = Path(path)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    dest = Path(folder) / f"{src.stem}.{stamp}{src.suffix}"
    dest.parent.mkdir(parents=True, exist_ok=True)
    os.replace(src, dest)
    write_text(dest.with_name(dest.name + ".reason.txt"), f"{reason}\nwas: {src}\n")
    return dest
