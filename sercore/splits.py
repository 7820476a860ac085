"""Train/validation/test splits of feature-store segments, all three protocols, seeded and machine-independent.

`paper`: what the paper's code did. A stratified random split of *segments* (80/20, sklearn
train_test_split), then Keras' validation_split=0.2: the last 20 % of the training rows in that order. Augmented
copies and sibling chunks of one recording land on both sides: a leak, reproduced on purpose.
`clean`: grouped by recording (or speaker), stratified by emotion (StratifiedGroupKFold): every version and
chunk of a recording is on one side; test keeps only original (non-augmented) segments, validation all versions
of its recordings (by default: 9x the segments, so early stopping does not follow the noise of a few dozen).
Grouped k-fold (`clean_fold_split`): fold f of K is the test side, so across the K folds every recording (or
speaker) is tested exactly once; validation is a grouped, stratified hold-out of the remaining training groups.
`speaker` (speaker_split): test speakers held out, as many male as female; validation = whole recordings of
the other speakers; augmented copies on the training side only.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
import pandas as pd
from sklearn.model_selection import StratifiedGroupKFold, train_test_split

from .augment import ORIGINAL
from .errors import JobError


class Split(NamedTuple):
    """Row indices into the feature store's meta table."""

    train: np.ndarray
    val: np.ndarray
    test: np.ndarray


def paper_split(labels: np.ndarray, seed: int, test_size: float = 0.2, val_size: float = 0.2) -> Split:
    """Segment-level stratified split, then the last `val_size` of the training order as validation."""
    idx = np.arange(len(labels))
    try:
        trval, test = train_test_split(idx, test_size=test_size, random_state=seed, stratify=labels)
    except ValueError as exc:
        raise JobError(f"paper split impossible on {len(labels)} segments: {exc}") from exc
    split_at = int(len(trval) * (1.0 - val_size))  # keras.Model.fit(validation_split=...) rule
    return Split(np.asarray(trval[:split_at]), np.asarray(trval[split_at:]), np.asarray(test))


def _one_fold(labels: np.ndarray, groups: np.ndarray, size: float, seed: int, what: str) -> np.ndarray:
    """Boolean mask of the held-out fold of a StratifiedGroupKFold with about `size` of the groups."""
    n_groups = len(np.unique(groups))
    # sklearn refuses more folds than the largest class has rows; tiny corpora then hold out a larger share
    n_splits = min(max(2, round(1 / size)), n_groups, max(2, int(np.bincount(labels).max())))
    if n_groups < 2:
        raise JobError(f"clean split: need at least 2 {what} groups, found {n_groups}")
    cv = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    with warnings.catch_warnings():
        # small corpora: a class with fewer groups than folds is fine here, we only take one fold
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        _, held = next(cv.split(np.zeros(len(labels)), labels, groups))
    mask = np.zeros(len(labels), bool)
    mask[held] = True
    return mask


def clean_split(meta: pd.DataFrame, labels: np.ndarray, seed: int, speaker_independent: bool = False,
                test_size: float = 0.2, val_size: float = 0.2, val_augmented: bool = True) -> Split:
    """Grouped, stratified split: no recording (or speaker) on two sides; test on original versions."""
    key = "speaker" if speaker_independent else "recording"
    groups = meta[key].astype(str).to_numpy()
    orig_idx = np.flatnonzero((meta["version"] == ORIGINAL).to_numpy())
    test_mask = _one_fold(labels[orig_idx], groups[orig_idx], test_size, seed, key)
    return _grouped_sides(meta, labels, groups, set(groups[orig_idx[test_mask]]), seed, key, val_size, val_augmented)


def _grouped_sides(meta: pd.DataFrame, labels: np.ndarray, groups: np.ndarray, test_groups: set[str], seed: int,
                   key: str, val_size: float, val_augmented: bool) -> Split:
    """Given the test groups: hold out `val_size` of the other groups (grouped, stratified) as validation."""
    original = (meta["version"] == ORIGINAL).to_numpy()
    in_test = np.isin(groups, list(test_groups))
    rest = np.flatnonzero(original & ~in_test)
    if len(rest) == 0:
        raise JobError(f"clean split: no {key} left for training once the test {key}s are held out")
    val_mask = _one_fold(labels[rest], groups[rest], val_size, seed + 1, key)  # 20 % of the rest: 64/16/20
    in_val = np.isin(groups, list(set(groups[rest[val_mask]])))
    train = np.flatnonzero(~in_test & ~in_val)
    val = np.flatnonzero(in_val & (original | val_augmented))  # never in train either way
    test = np.flatnonzero(in_test & original)
    if min(len(train), len(val), len(test)) == 0:
        raise JobError(f"clean split left an empty side (train {len(train)}, val {len(val)}, test {len(test)})")
    return Split(train, val, test)


def group_folds(labels: np.ndarray, groups: np.ndarray, folds: int, seed: int) -> dict[str, int]:
    """Fold (0..folds-1) of every group: StratifiedGroupKFold, so each group sits in exactly one fold.

    `labels`/`groups` are per row (one row per original segment); fold 0 is the test fold `clean_split`
    would draw for `test_size = 1 / folds` with the same seed."""
    n_groups = len(np.unique(groups))
    if folds < 2 or folds > n_groups:
        raise JobError(f"grouped k-fold: folds must be between 2 and the number of groups ({n_groups}), got {folds}")
    cv = StratifiedGroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    out: dict[str, int] = {}
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The least populated class", category=UserWarning)
        for f, (_, held) in enumerate(cv.split(np.zeros(len(labels)), labels, groups)):
            out.update(dict.fromkeys(groups[held].tolist(), f))
    return out


def clean_fold_split(meta: pd.DataFrame, labels: np.ndarray, seed: int, fold: int, folds: int,
                     group_key: str = "recording", val_size: float = 0.2, val_augmented: bool = True) -> Split:
    """Fold `fold` of a grouped, stratified K-fold as the test side (original versions); validation as in
    `clean_split`. The fold assignment depends only on (original rows' labels and groups, folds, seed)."""
    if not 0 <= fold < folds:
        raise JobError(f"fold {fold} out of range for folds={folds} (expected 0..{folds - 1})")
    groups = meta[group_key].astype(str).to_numpy()
    orig_idx = np.flatnonzero((meta["version"] == ORIGINAL).to_numpy())
    assignment = group_folds(labels[orig_idx], groups[orig_idx], folds, seed)
    test_groups = {g for g, f in assignment.items() if f == fold}
    return _grouped_sides(meta, labels, groups, test_groups, seed, group_key, val_size, val_augmented)


def split_sizes(meta: pd.DataFrame, labels: np.ndarray, seed: int = 0, folds: int = 5) -> pd.DataFrame:
    """Recordings, segments and speakers per side of every protocol's split (docs/data.md's size table):
    paper, clean hold-out, clean k-fold by recording and by speaker (one row per fold and side)."""
    plans: list[tuple[str, int | None, Split]] = [("paper", None, paper_split(labels, seed)),
                                                  ("clean", None, clean_split(meta, labels, seed))]
    for key in ("recording", "speaker"):
        if meta[key].nunique() >= folds:
            plans += [(f"clean {folds}-fold by {key}", f, clean_fold_split(meta, labels, seed, f, folds, key))
                      for f in range(folds)]
    rows = []
    for name, fold, split in plans:
        for side, idx in zip(Split._fields, split, strict=False):
            m = meta.iloc[idx]
            rows.append({"protocol": name, "fold": fold, "side": side, "recordings": m["recording"].nunique(),
                         "segments": len(idx), "original_segments": int((m["version"] == ORIGINAL).sum()),
                         "speakers": m["speaker"].nunique()})
    return pd.DataFrame(rows).astype({"fold": "Int64"})


def speaker_split(meta: pd.DataFrame, labels: np.ndarray, seed: int, test_size: float = 0.2,
                  val_size: float = 0.2) -> Split:
    """Speaker-independent protocol (`speaker`): the test set holds every original segment of k male and k female
    speakers (k = round(speakers x test_size / 2), at least 1), so accuracy is measured on voices the model never
    heard and the gender comparison is balanced by speaker. Validation: whole recordings of the remaining
    speakers (originals only, stratified by emotion); training: everything else of those speakers, augmented
    copies included. Speakers of unknown gender stay on the training side."""
    speakers = meta[["speaker", "gender"]].astype(str).drop_duplicates("speaker")
    pools = {g: sorted(speakers.speaker[speakers.gender == g]) for g in ("male", "female")}
    k = max(1, round(sum(map(len, pools.values())) * test_size / 2))
    if min(map(len, pools.values())) < k + 1:
        counts = ", ".join(f"{len(v)} {g}" for g, v in pools.items())
        raise JobError(f"speaker split: {k} test speaker(s) per gender need at least {k + 1} speakers of each "
                       f"gender (found {counts})")
    rng = np.random.default_rng(seed)
    test_speakers = {str(s) for pool in pools.values() for s in rng.choice(pool, size=k, replace=False)}
    spk = meta["speaker"].astype(str).to_numpy()
    recording = meta["recording"].astype(str).to_numpy()
    original = (meta["version"] == ORIGINAL).to_numpy()
    in_test = np.isin(spk, list(test_speakers))
    rest = np.flatnonzero(original & ~in_test)
    in_val = np.isin(recording, _val_recordings(recording[rest], labels[rest], val_size, rng))
    split = Split(np.flatnonzero(~in_test & ~in_val), np.flatnonzero(in_val & original),
                  np.flatnonzero(in_test & original))
    if min(map(len, split)) == 0:
        raise JobError(f"speaker split left an empty side (train {len(split.train)}, val {len(split.val)}, "
                       f"test {len(split.test)})")
    return split


def _val_recordings(recording: np.ndarray, labels: np.ndarray, size: float, rng: np.random.Generator) -> list[str]:
    """About `size` of the recordings of each emotion (at least one where there are two), drawn whole. Drawn
    per emotion rather than with StratifiedGroupKFold, which refuses classes with fewer segments than folds
    (what is left of a small corpus once whole speakers are held out)."""
    recs = pd.DataFrame({"recording": recording, "label": labels}).drop_duplicates("recording")
    chosen: list[str] = []
    for _, grp in recs.groupby("label", sort=True):
        pool = sorted(grp.recording)
        k = max(round(len(pool) * size), 1 if len(pool) >= 2 else 0)
        chosen += [str(r) for r in rng.choice(pool, size=k, replace=False)] if k else []
    return chosen


def official_split(meta: pd.DataFrame, column: str, val_augmented: bool = True) -> Split:
    """A corpus's own train/val/test split (a manifest's `split` column, `column` in the meta table): training
    keeps every version of its recordings, validation its originals (all versions with `val_augmented`), test
    its originals only, as the other leak-free protocols."""
    side = meta[column].astype(str).to_numpy()
    original = (meta["version"] == ORIGINAL).to_numpy()
    split = Split(np.flatnonzero(side == "train"), np.flatnonzero((side == "val") & (original | val_augmented)),
                  np.flatnonzero((side == "test") & original))
    if min(map(len, split)) == 0:
        raise JobError(f"official split left an empty side (train {len(split.train)}, val {len(split.val)}, "
                       f"test {len(split.test)}): every side needs files of the kept emotions")
    return split


def official_fold_split(meta: pd.DataFrame, labels: np.ndarray, column: str, seed: int, fold: int, folds: int,
                        val_augmented: bool = True) -> Split:
    """Fold `fold` of a corpus's own folds (a manifest's `fold` column) as the test side; validation a grouped,
    stratified hold-out of the other folds' recordings, as in `clean_fold_split`."""
    found = sorted(int(f) for f in meta[column].unique())
    if found != list(range(folds)):
        raise JobError(f"official folds are {found}, but the grid asks for folds={folds} (expected 0..{folds - 1}; "
                       f"set folds: {len(found)} with folds numbered from 0)")
    groups = meta["recording"].astype(str).to_numpy()
    test_groups = set(groups[(meta[column] == fold).to_numpy()])
    return _grouped_sides(meta, labels, groups, test_groups, seed, "recording", 0.2, val_augmented)
