"""`prepare`: the hub every training and attack job calls. Store -> split -> normalise -> standardise.

Fast on a cache hit (the store is memory-mapped; only the chosen normalisation runs) and deterministic: the
same DataSpec gives the same arrays on every machine. Labels are indices into `classes` (alphabetical, as the
paper's OneHotEncoder). What the standardiser and the clip values are fitted on depends on the protocol:
`paper` the whole dataset (the paper's leak), `clean` and `speaker` the training rows only.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from . import normalize as nz
from .datasets.manifest import FOLD_COLUMN, SPLIT_COLUMN
from .errors import JobError
from .specs import DataSpec
from .splits import (
    Split,
    clean_fold_split,
    clean_split,
    official_fold_split,
    official_split,
    paper_split,
    speaker_split,
)
from .store import open_store
from .vocab import class_order


@dataclass(frozen=True)
class Prepared:
    """Model-ready arrays. x: float32 (n, 261, 128, 1); y: int64 indices into `classes`."""

    classes: tuple[str, ...]
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    meta_train: pd.DataFrame
    meta_val: pd.DataFrame
    meta_test: pd.DataFrame
    clip_values: tuple[float, float]
    mean: np.ndarray | None
    std: np.ndarray | None
    dataset_max: float | None = None  # norm_max_global's fitted maximum (the waveform front end needs it)


def split_indices(spec: DataSpec, meta: pd.DataFrame, labels: np.ndarray) -> Split:
    if spec.protocol == "paper":
        return paper_split(labels, spec.effective_split_seed)
    if spec.protocol == "speaker":
        return speaker_split(meta, labels, spec.effective_split_seed)
    if SPLIT_COLUMN in meta:  # a manifest's official split is the leak-free split (docs/bring-your-own.md)
        return official_split(meta, SPLIT_COLUMN, spec.val_augmented)
    if FOLD_COLUMN in meta and spec.folds is not None:
        return official_fold_split(meta, labels, FOLD_COLUMN, spec.effective_split_seed, spec.fold, spec.folds,
                                   spec.val_augmented)
    if spec.folds is not None:
        key = "speaker" if spec.speaker_independent else "recording"
        return clean_fold_split(meta, labels, spec.effective_split_seed, spec.fold, spec.folds, key,
                                val_augmented=spec.val_augmented)
    return clean_split(meta, labels, spec.effective_split_seed, spec.speaker_independent,
                       val_augmented=spec.val_augmented)


def user_split(spec: DataSpec, meta: pd.DataFrame) -> str | None:
    """Whether split_indices honoured a manifest's own `split` / `fold` column, in words for the train row and the
    report (None: the corpus has neither). Only `clean` takes them; `paper` and `speaker` draw their own split."""
    column = "split" if SPLIT_COLUMN in meta else ("fold" if FOLD_COLUMN in meta else None)
    if column is None:
        return None
    if spec.protocol == "clean" and (column == "split" or spec.folds is not None):
        return f"your {column} column honoured"
    return f"your {column} column not used: protocol '{spec.protocol}' draws its own split"


def _min_max(x: np.ndarray) -> tuple[float, float]:
    lo, hi = np.inf, -np.inf
    for i in range(0, len(x), 1024):
        lo, hi = min(lo, float(x[i:i + 1024].min())), max(hi, float(x[i:i + 1024].max()))
    return lo, hi


def prepare(spec: DataSpec, cache_dir: Path, *, workers: int | None = None, progress: bool = False) -> Prepared:
    """Arrays for one DataSpec, building the feature store first if this is the first job to need it."""
    store = open_store(spec.corpus, spec.features, Path(cache_dir), workers=workers, progress=progress)
    classes = class_order(spec.corpus.kept_emotions)
    index = {c: i for i, c in enumerate(classes)}
    labels = store.meta["emotion"].map(index).to_numpy(dtype=np.int64)
    split = split_indices(spec, store.meta, labels)
    if min(map(len, split)) == 0:
        raise JobError(f"{spec.corpus.name}: split gave an empty side ({', '.join(str(len(s)) for s in split)})")

    dataset_max = None
    if spec.normalization == "norm_max_global":
        fit_idx = np.sort(np.concatenate(split)) if spec.protocol == "paper" else np.sort(split.train)
        dataset_max = max(nz.global_max(store.x[fit_idx[i:i + 1024]]) for i in range(0, len(fit_idx), 1024))
    parts = {name: nz.normalize(store.x[idx], spec.normalization, dataset_max)
             for name, idx in zip(("train", "val", "test"), split, strict=False)}

    mean = std = None
    if spec.standardize:
        fit = list(parts.values()) if spec.protocol == "paper" else [parts["train"]]
        mean, std = nz.cell_stats(*fit)
        for arr in parts.values():
            nz.standardize(arr, mean, std)
    lo, hi = (_overall_min_max(parts) if spec.protocol == "paper" else _min_max(parts["train"]))

    def meta_of(idx: np.ndarray) -> pd.DataFrame:
        return store.meta.iloc[idx].assign(segment=idx).reset_index(drop=True)

    return Prepared(
        classes=classes,
        x_train=parts["train"][..., None], y_train=labels[split.train],
        x_val=parts["val"][..., None], y_val=labels[split.val],
        x_test=parts["test"][..., None], y_test=labels[split.test],
        meta_train=meta_of(split.train), meta_val=meta_of(split.val), meta_test=meta_of(split.test),
        clip_values=(float(np.floor(lo)), float(np.ceil(hi))), mean=mean, std=std, dataset_max=dataset_max)


def _overall_min_max(parts: dict[str, np.ndarray]) -> tuple[float, float]:
    bounds = [_min_max(a) for a in parts.values()]
    return min(b[0] for b in bounds), max(b[1] for b in bounds)
