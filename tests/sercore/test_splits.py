"""Both split protocols: sizes, stratification, determinism, and no recording (or speaker) on two sides."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from sercore.errors import JobError
from sercore.splits import clean_fold_split, clean_split, group_folds, paper_split, split_sizes


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
    assert all(np.array_equal(a, b) for a, b in zip(s, again, strict=False))
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
    assert (meta.version.iloc[s.test] == "original").all()
    assert set(meta.version.iloc[s.train]) == set(meta.version.iloc[s.val]) == {"original", "pitch1.0", "pitch2.0"}
    if not speaker_independent:
        n_test = len(set(meta.recording.iloc[s.test]))
        assert n_test == 12 and len(set(meta.emotion.iloc[s.test])) == 3
        # every chunk and version of a train recording is in train
        assert len(s.train) == len(set(meta.recording.iloc[s.train])) * 6
    again = clean_split(meta, y, seed=3, speaker_independent=speaker_independent)
    assert all(np.array_equal(a, b) for a, b in zip(s, again, strict=False))


def test_clean_split_needs_groups() -> None:
    meta, y = _meta(n_rec=6)
    meta["speaker"] = "one"
    with pytest.raises(JobError, match="at least 2 speaker groups"):
        clean_split(meta, y, seed=0, speaker_independent=True)


def test_clean_validation_keeps_augmented_versions_out_of_train() -> None:
    meta, y = _meta()
    s = clean_split(meta, y, seed=3)
    val_recs = set(meta.recording.iloc[s.val])
    assert set(meta.version.iloc[s.val]) == {"original", "pitch1.0", "pitch2.0"}  # every version of val recordings
    assert len(s.val) == len(val_recs) * 6 and not val_recs & set(meta.recording.iloc[s.train])
    only = clean_split(meta, y, seed=3, val_augmented=False)
    assert np.array_equal(only.test, s.test) and np.array_equal(only.train, s.train)
    assert set(meta.version.iloc[only.val]) == {"original"} and set(meta.recording.iloc[only.val]) == val_recs


@pytest.mark.parametrize("key", ["recording", "speaker"])
def test_group_folds_test_every_group_exactly_once(key: str) -> None:
    meta, y = _meta()
    folds = 5
    splits = [clean_fold_split(meta, y, seed=11, fold=f, folds=folds, group_key=key) for f in range(folds)]
    tested = [meta[key].iloc[s.test].tolist() for s in splits]
    tested_groups = [set(t) for t in tested]
    # every group tested in exactly one fold, and the folds' test sides cover all original segments once
    assert sorted(g for t in tested_groups for g in t) == sorted(set(meta[key]))
    original = np.flatnonzero(meta.version == "original")
    assert sorted(np.concatenate([s.test for s in splits]).tolist()) == original.tolist()
    for s, test_groups in zip(splits, tested_groups, strict=False):
        # no version or chunk of a test group in train or validation, no validation group in train
        assert not test_groups & set(meta[key].iloc[s.train]) and not test_groups & set(meta[key].iloc[s.val])
        assert not set(meta[key].iloc[s.val]) & set(meta[key].iloc[s.train])
        assert (meta.version.iloc[s.test] == "original").all()
        assert len(s.train) + len(s.val) + len(meta[meta[key].isin(test_groups)]) == len(meta)
    if key == "recording":
        assert [len(t) for t in tested_groups] == [12] * 5
        assert all(np.bincount(y[s.test]).tolist() == [8, 8, 8] for s in splits)  # stratified by emotion


def test_group_folds_deterministic_for_a_seed() -> None:
    meta, y = _meta()
    orig = (meta.version == "original").to_numpy()
    labels, groups = y[orig], meta.recording.to_numpy()[orig]
    a = group_folds(labels, groups, 5, seed=4)
    assert a == group_folds(labels, groups, 5, seed=4) and a != group_folds(labels, groups, 5, seed=5)
    assert sorted(set(a.values())) == [0, 1, 2, 3, 4] and set(a) == set(groups)
    # fold 0 is the test side the single hold-out draws with the same seed (test_size = 1 / folds)
    assert np.array_equal(clean_fold_split(meta, y, seed=4, fold=0, folds=5).test, clean_split(meta, y, seed=4).test)


def test_group_folds_bad_values() -> None:
    meta, y = _meta(n_rec=6)
    with pytest.raises(JobError, match="folds must be between 2 and the number of groups"):
        clean_fold_split(meta, y, seed=0, fold=0, folds=7)
    with pytest.raises(JobError, match="fold 5 out of range"):
        clean_fold_split(meta, y, seed=0, fold=5, folds=5)


def test_split_sizes_counts_every_side() -> None:
    meta, y = _meta()
    sizes = split_sizes(meta, y, seed=0, folds=3)
    assert set(sizes.protocol) == {"paper", "clean", "clean 3-fold by recording", "clean 3-fold by speaker"}
    for (name, _fold), grp in sizes.groupby(["protocol", "fold"], dropna=False):
        assert grp.side.tolist() == ["train", "val", "test"]
        if name != "paper":  # grouped: the sides' recordings partition the corpus
            assert grp.recordings.sum() == 60
    by_rec = sizes[sizes.protocol == "clean 3-fold by recording"]
    assert by_rec[by_rec.side == "test"].original_segments.sum() == 120  # every original segment tested once
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
    assert all(np.array_equal(a, b) for a, b in zip(s, again, strict=False))
    others = {frozenset(meta.speaker.iloc[speaker_split(meta, y, seed=k).test]) for k in range(8)}
    assert len(others) > 1  # the seed picks the speakers


def test_speaker_split_needs_speakers_of_both_genders() -> None:
    from sercore.splits import speaker_split

    meta, y = _speaker_meta(4)
    meta.loc[meta.speaker == "s1", "gender"] = "male"  # 3 male, 1 female: nothing left to train on for female
    with pytest.raises(JobError, match="need at least 2 speakers of each gender"):
        speaker_split(meta, y, seed=0)
