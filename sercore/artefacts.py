"""Cheap checks of the artefacts a later job reads: one `check_*` per kind, raising DataError naming the file.

A job reads what an earlier job left behind (model.keras, scaler.npz, summary.json, chunks/manifest.json, the
feature store's x.npy and meta.parquet, examples.npz). A truncated or garbled file used to surface as a
third-party error that names no file (`BadZipFile`, `mmap length is greater than file size`, a Parquet
'<Buffer>'). Each check here costs a stat plus a header, footer or zip-directory read (and a finite-values scan
of small arrays), so it runs every time the artefact is read: exists, size > 0, magic or load succeeds,
expected keys and shapes, finite values. The caller decides what a failure means (set aside and redo, skip
with a note, or refuse); `problem()` turns a check into a reason string for callers that collect reasons.
"""

from __future__ import annotations

import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from .errors import DataError

# What a train job writes that later jobs read, and what an attack job writes that the reducer reads.
TRAIN_ARTEFACTS = ("model.keras", "scaler.npz", "summary.json")
ATTACK_ARTEFACTS = ("examples.npz",)
SCALER_KEYS = ("mean", "std", "clip_min", "clip_max", "classes")
EXAMPLE_KEYS = ("clean", "adversarial", "sample", "gender", "y_true", "y_clean", "y_adv")
KERAS_MEMBERS = ("config.json", "model.weights.h5")  # Keras 3's .keras zip always holds both
_ROWS = 256  # rows per block of a finite-values scan (bounded memory on a memory-mapped store)


def _fail(path: Path, problem: str) -> DataError:
    return DataError(f"{path}: {problem}")


def check_file(path: str | Path, what: str = "file") -> Path:
    """The artefact exists, is a file and is not empty."""
    path = Path(path)
    if not path.is_file():
        raise _fail(path, f"{what} not found")
    if path.stat().st_size == 0:
        raise _fail(path, f"empty {what} (0 bytes)")
    return path


def check_model(path: str | Path) -> Path:
    """A Keras 3 `.keras` file: a zip whose central directory reads and names the config and the weights.

    Reading the directory at the zip's end catches truncation; the weights themselves are not checksummed."""
    path = check_file(path, "trained model")
    try:
        with zipfile.ZipFile(path) as z:
            names = set(z.namelist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise _fail(path, f"not a readable .keras zip ({type(exc).__name__}: {exc})") from exc
    missing = [m for m in KERAS_MEMBERS if m not in names]
    if missing:
        raise _fail(path, f"not a Keras model archive (missing {', '.join(missing)})")
    return path


def _load_npz(path: Path, keys: tuple[str, ...], what: str) -> dict[str, np.ndarray]:
    try:
        with np.load(check_file(path, what), allow_pickle=False) as z:
            missing = [k for k in keys if k not in z.files]
            if missing:
                raise _fail(path, f"{what} lacks {', '.join(missing)}")
            return {k: z[k] for k in keys}
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise _fail(path, f"unreadable {what} ({type(exc).__name__}: {str(exc)[:160]})") from exc


def check_scaler(path: str | Path) -> dict[str, np.ndarray]:
    """scaler.npz: every key, mean and std of one shape (both empty without standardisation), finite values."""
    path = Path(path)
    s = _load_npz(path, SCALER_KEYS, "scaler")
    if s["mean"].shape != s["std"].shape:
        raise _fail(path, f"mean {s['mean'].shape} and std {s['std'].shape} differ in shape")
    for key in ("mean", "std", "clip_min", "clip_max"):
        bad = int(np.size(s[key]) - np.isfinite(s[key]).sum())
        if bad:
            raise _fail(path, f"{key} holds {bad} NaN or infinite value(s)")
    if len(s["classes"]) < 2:
        raise _fail(path, f"{len(s['classes'])} class(es) (expected at least 2)")
    return s


def check_json(path: str | Path, keys: tuple[str, ...], what: str) -> dict[str, Any]:
    """A JSON object with the given keys."""
    path = check_file(path, what)
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise _fail(path, f"unreadable {what} ({type(exc).__name__}: {str(exc)[:160]})") from exc
    missing = [k for k in keys if not isinstance(obj, dict) or k not in obj]
    if missing:
        raise _fail(path, f"{what} lacks {', '.join(missing)}")
    return obj


def check_summary(path: str | Path, job_id: str | None = None) -> dict[str, Any]:
    """A train job's summary.json: job id, spec and result row, of `job_id` when given."""
    obj = check_json(path, ("job_id", "job", "row"), "train summary")
    if job_id is not None and obj["job_id"] != job_id:
        raise _fail(Path(path), f"summary of job {obj['job_id']!r}, not {job_id!r}")
    if not isinstance(obj["row"], dict) or not obj["row"]:
        raise _fail(Path(path), "train summary has an empty result row")
    return obj


def check_manifest(path: str | Path) -> dict[str, Any]:
    """An attack job's chunks/manifest.json: which job made the chunks beside it."""
    obj = check_json(path, ("job_id", "job"), "chunk manifest")
    if not isinstance(obj["job_id"], str) or not obj["job_id"]:
        raise _fail(Path(path), f"chunk manifest names no job (job_id {obj['job_id']!r})")
    return obj


def check_examples(path: str | Path) -> dict[str, np.ndarray]:
    """An attack job's examples.npz: every key, one length, clean and adversarial of one shape, finite."""
    path = Path(path)
    z = _load_npz(path, EXAMPLE_KEYS, "examples file")
    lengths = {k: len(v) for k, v in z.items()}
    if len(set(lengths.values())) != 1:
        raise _fail(path, f"arrays of different lengths ({', '.join(f'{k} {n}' for k, n in lengths.items())})")
    # (n, frames, mels) log-Mels, or (n, samples) waveforms of a `domain: waveform` attack (sercore.waveform_attack)
    if z["clean"].shape != z["adversarial"].shape or z["clean"].ndim not in (2, 3):
        raise _fail(path, f"clean {z['clean'].shape} and adversarial {z['adversarial'].shape} are not one "
                          "(n, frames, mels) or (n, samples) shape")
    bad = count_nonfinite(z["clean"]) + count_nonfinite(z["adversarial"])
    if bad:
        raise _fail(path, f"{bad} example(s) hold NaN or infinite values")
    return z


def check_deltas(path: str | Path) -> dict[str, np.ndarray]:
    """An attack chunk's `chunk-NNNNN.delta.npz` (what a transfer job replays): both keys, one length, finite."""
    path = Path(path)
    z = _load_npz(path, ("sample", "delta"), "adversarial deltas")
    if len(z["sample"]) != len(z["delta"]):
        raise _fail(path, f"{len(z['sample'])} samples but {len(z['delta'])} deltas")
    bad = count_nonfinite(z["delta"])
    if bad:
        raise _fail(path, f"{bad} delta(s) hold NaN or infinite values")
    return z


def check_npy(path: str | Path, ndim: int | None = None, rows: int | None = None) -> np.ndarray:
    """A .npy array opened memory-mapped: the header reads, the data is all there, dimensions as expected."""
    path = check_file(path, "array")
    try:
        x = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:  # a truncated file: "mmap length is greater than file size"
        raise _fail(path, f"unreadable or truncated .npy ({type(exc).__name__}: {str(exc)[:160]})") from exc
    if ndim is not None and x.ndim != ndim:
        raise _fail(path, f"{x.ndim}-d array {x.shape} (expected {ndim}-d)")
    if rows is not None and len(x) != rows:
        raise _fail(path, f"{len(x)} rows but its table has {rows}")
    return x


def check_parquet(path: str | Path, columns: tuple[str, ...] = (), min_rows: int = 1) -> Any:
    """A Parquet file whose footer reads, with these columns and at least `min_rows` rows; returns the footer."""
    from .io import parquet_footer

    path = check_file(path, "Parquet file")
    meta, problem = parquet_footer(path, columns, min_rows)
    if problem:
        raise _fail(path, problem)
    return meta


def count_nonfinite(x: np.ndarray) -> int:
    """How many rows (segments, examples) hold a NaN or infinite value; scanned in blocks (memory-mapped x)."""
    bad = 0
    for i in range(0, len(x), _ROWS):
        block = np.asarray(x[i:i + _ROWS]).reshape(min(_ROWS, len(x) - i), -1)
        bad += int((~np.isfinite(block)).any(axis=1).sum())
    return bad


def check_finite(x: np.ndarray, what: str, unit: str = "segments") -> None:
    """Refuse inputs with NaN or infinite rows, with their count: they train a chance-level model silently."""
    bad = count_nonfinite(x)
    if bad:
        raise DataError(f"{what}: {bad} of {len(x)} {unit} hold NaN or infinite values")


def problem(check: Callable[..., Any], *args: Any) -> str | None:
    """The check's one-line DataError message, or None when it passes."""
    try:
        check(*args)
    except DataError as exc:
        return str(exc)
    return None


# Artefact name -> its check, called as check(path, job_id).
CHECKS: dict[str, Callable[[Path, str], Any]] = {
    "model.keras": lambda p, _: check_model(p),
    "scaler.npz": lambda p, _: check_scaler(p),
    "summary.json": check_summary,
    "examples.npz": lambda p, _: check_examples(p),
}


def first_problem(folder: str | Path, names: tuple[str, ...], job_id: str) -> tuple[Path, str] | None:
    """(artefact, one-line problem) of the first of `names` in a job's folder that fails its check, or None."""
    for name in names:
        path = Path(folder) / name
        why = problem(CHECKS[name], path, job_id)
        if why:
            return path, why
    return None
