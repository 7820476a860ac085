"""Both split protocols: sizes, stratification, determinism, and no recording (or speaker) on two sides."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sercore.errors import JobError
from sercore.splits import clean_split, paper_split


def _meta(n_rec: int = 60, versions: int = 3, chunks: int = 2) -> tuple[pd.DataFrame, np.ndarray]:
    rows = []
    for r in range(n_rec):
        for v in range(versions):
            for c in range(chunks):
                rows.append({"recording": f"rec{r}", "speaker": f"s{r % 6}", "emotion": r % 3,
                             "version": "original" if v == 0 else f"pitch{v}.0", "chunk": c})
    meta = pd.DataFrame(rows)
    return meta, meta["emotion"].to_numpy()


def test_paper_split_proportions_stratified_and_seeded() -> None:
    meta, y = _meta()
    s = paper_split(y, seed=1938)
    n = len(y)  # 360 segments: 72 test, 288 train+val of which keras' last 20 % (58) validate
    assert (len(s.train), len(s.val), len(s.test)) == (230, 58, 72)
    assert sorted(np.concatenate(s).tolist()) == list(range(n))
    assert np.bincount(y[s.test]).tolist() == [24, 24, 24]  # stratified
    again = paper_split(y, seed=1938)
    assert all(np.array_equal(a, b) for a, b in zip(s, again))
    assert not np.array_equal(paper_split(y, seed=1).test, s.test)
    # the leak, reproduced on purpose: siblings of one recording on both sides
    assert set(meta.recording[s.train]) & set(meta.recording[s.test])


@pytest.mark.parametrize("speaker_independent", [False, True])
def test_clean_split_has_no_leak(speaker_independent: bool) -> None:
    meta, y = _meta()
    s = clean_split(meta, y, seed=3, speaker_independent=speaker_independent)
    key = "speaker" if speaker_independent else "recording"
    sides = [set(meta[key].iloc[idx]) for idx in s]
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
    assert (meta.version.iloc[s.val] == "original").all() and (meta.version.iloc[s.test] == "original").all()
    assert set(meta.version.iloc[s.train]) == {"original", "pitch1.0", "pitch2.0"}
    if not speaker_independent:
        n_test = len(set(meta.recording.iloc[s.test]))
        assert n_test == 12 and len(set(meta.emotion.iloc[s.test])) == 3
        # every chunk and version of a train recording is in train
        assert len(s.train) == len(set(meta.recording.iloc[s.train])) * 6
    again = clean_split(meta, y, seed=3, speaker_independent=speaker_independent)
    assert all(np.array_equal(a, b) for a, b in zip(s, again))


def test_clean_split_needs_groups() -> None:
    meta, y = _meta(n_rec=6)
    meta["speaker"] = "one"
    with pytest.raises(JobError, match="at least 2 speaker groups"):
        clean_split(meta, y, seed=0, speaker_independent=True)
