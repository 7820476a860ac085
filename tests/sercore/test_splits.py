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


def _speaker_meta(n_speakers: int = 10) -> tuple[pd.DataFrame, np.ndarray]:
    meta, y = _meta(n_rec=120)
    meta["speaker"] = [f"s{int(r[3:]) % n_speakers}" for r in meta.recording]
    meta["gender"] = ["male" if int(s[1:]) % 2 == 0 else "female" for s in meta.speaker]
    return meta, y


def test_speaker_split_holds_out_balanced_speakers() -> None:
    from sercore.splits import speaker_split

    meta, y = _speaker_meta(10)  # 5 male, 5 female: one of each held out (20 % of 10)
    s = speaker_split(meta, y, seed=4)
    test_spk = set(meta.speaker.iloc[s.test])
    assert len(test_spk) == 2 and set(meta.gender.iloc[s.test]) == {"male", "female"}
    assert not test_spk & set(meta.speaker.iloc[s.train]) and not test_spk & set(meta.speaker.iloc[s.val])
    assert not set(meta.recording.iloc[s.val]) & set(meta.recording.iloc[s.train])  # val: whole recordings
    assert (meta.version.iloc[s.val] == "original").all() and (meta.version.iloc[s.test] == "original").all()
    assert set(meta.version.iloc[s.train]) == {"original", "pitch1.0", "pitch2.0"}  # augmentation: train only
    # every original segment of the test speakers is tested
    assert len(s.test) == int(((meta.version == "original") & meta.speaker.isin(test_spk)).sum())
    again = speaker_split(meta, y, seed=4)
    assert all(np.array_equal(a, b) for a, b in zip(s, again))
    others = {frozenset(meta.speaker.iloc[speaker_split(meta, y, seed=k).test]) for k in range(8)}
    assert len(others) > 1  # the seed picks the speakers


def test_speaker_split_needs_speakers_of_both_genders() -> None:
    from sercore.splits import speaker_split

    meta, y = _speaker_meta(4)
    meta.loc[meta.speaker == "s1", "gender"] = "male"  # 3 male, 1 female: nothing left to train on for female
    with pytest.raises(JobError, match="need at least 2 speakers of each gender"):
        speaker_split(meta, y, seed=0)
