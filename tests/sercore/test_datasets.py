"""Corpus loaders: names parsed into one vocabulary, bad files rejected with reasons, bad roots one-line errors."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sercore.datasets import LOADERS, kept, load_corpus, synthetic
from sercore.datasets.base import walk_audio
from sercore.errors import DataError
from sercore.specs import CorpusSpec


def _wav(path: Path, seconds: float = 0.5, sr: int = 16000, channels: int = 1, amp: float = 0.3) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    t = np.arange(int(seconds * sr)) / sr
    y = amp * np.sin(2 * np.pi * 220 * t)
    sf.write(path, np.stack([y] * channels, axis=1) if channels > 1 else y, sr)


def test_emodb_names_genders_and_rejections(tmp_path: Path) -> None:
    for name in ("03a01Fa.wav", "08b02Tb.wav", "16a05Lc.wav"):
        _wav(tmp_path / name)
    _wav(tmp_path / "03a01Xa.wav")  # unknown emotion letter
    _wav(tmp_path / "readme.wav")  # foreign name
    (tmp_path / "10a01Wa.wav").write_bytes(b"not audio at all")
    _wav(tmp_path / "11a01Na.wav", seconds=0.02)  # too short
    _wav(tmp_path / "12a01Ea.wav", amp=0.0)  # digital silence
    sf.write(tmp_path / "13a01Aa.wav", np.zeros(0), 16000)  # empty
    c = load_corpus(CorpusSpec(name="emodb", root=str(tmp_path)), tmp_path)
    assert c.files[["path", "speaker", "gender", "emotion", "language", "text", "take"]].values.tolist() == [
        ["03a01Fa.wav", "03", "male", "happiness", "de", "a01", "a"],
        ["08b02Tb.wav", "08", "female", "sadness", "de", "b02", "b"],
        ["16a05Lc.wav", "16", "female", "boredom", "de", "a05", "c"],
    ]
    reasons = dict(zip(c.rejected["path"], c.rejected["reason"], strict=False))
    assert set(reasons) == {"03a01Xa.wav", "readme.wav", "10a01Wa.wav", "11a01Na.wav", "12a01Ea.wav", "13a01Aa.wav"}
    assert "emotion letter" in reasons["03a01Xa.wav"] and "does not match" in reasons["readme.wav"]
    assert reasons["10a01Wa.wav"].startswith("unreadable")
    assert reasons["11a01Na.wav"].startswith("too short")
    assert reasons["12a01Ea.wav"].startswith("all silent")
    assert reasons["13a01Aa.wav"].startswith("empty")
    assert kept(c.files, ("sadness", "boredom"))["path"].tolist() == ["08b02Tb.wav", "16a05Lc.wav"]


def test_emovo_layout(tmp_path: Path) -> None:
    _wav(tmp_path / "f1" / "dis-f1-b1.wav", sr=48000, channels=2)
    _wav(tmp_path / "m3" / "sor-m3-n5.wav", sr=48000)
    _wav(tmp_path / "m3" / "xyz-m3-n5.wav", sr=48000)
    c = load_corpus(CorpusSpec(name="emovo", root=str(tmp_path)), tmp_path)
    assert c.files[["path", "speaker", "gender", "emotion", "language", "text"]].values.tolist() == [
        ["f1/dis-f1-b1.wav", "f1", "female", "disgust", "it", "b1"],
        ["m3/sor-m3-n5.wav", "m3", "male", "surprise", "it", "n5"],
    ]
    assert c.rejected["path"].tolist() == ["m3/xyz-m3-n5.wav"]


def test_ravdess_keeps_audio_only_speech(tmp_path: Path) -> None:
    _wav(tmp_path / "Actor_01" / "03-01-05-02-01-01-01.wav", sr=48000)
    _wav(tmp_path / "Actor_02" / "03-01-08-01-02-02-02.wav", sr=48000)
    _wav(tmp_path / "Actor_02" / "03-02-03-01-01-01-02.wav", sr=48000)  # song
    _wav(tmp_path / "Actor_02" / "01-01-03-01-01-01-02.wav", sr=48000)  # video
    c = load_corpus(CorpusSpec(name="ravdess", root=str(tmp_path)), tmp_path)
    columns = ["speaker", "gender", "emotion", "language", "intensity", "text", "repetition"]
    assert c.files[columns].values.tolist() == [["01", "male", "anger", "en", "strong", "01", "01"],
                                                ["02", "female", "surprise", "en", "normal", "02", "02"]]
    reasons = c.rejected["reason"].tolist()
    assert len(reasons) == 2
    assert any("vocal channel 02" in r for r in reasons) and any("modality 01" in r for r in reasons)


def test_missing_root_and_empty_folder_are_one_line_errors(tmp_path: Path) -> None:
    for name in LOADERS:
        with pytest.raises(DataError, match=f"{tmp_path / 'nope'}.*expected") as exc:
            LOADERS[name]().load(tmp_path / "nope")
        assert "\n" not in str(exc.value)
    (tmp_path / "junk.txt").write_text("x")
    with pytest.raises(DataError, match="no recognisable audio files in .*expected speaker folders f1"):
        load_corpus(CorpusSpec(name="emovo", root=str(tmp_path)), tmp_path)


def test_synthetic_corpus_is_deterministic_and_as_specified(tmp_path: Path) -> None:
    spec = CorpusSpec(name="synthetic", synthetic_per_class=1)
    a = load_corpus(spec, tmp_path / "a")
    b = load_corpus(spec, tmp_path / "b")
    assert len(a.files) == 4 * 5 and a.rejected.empty
    assert a.files.groupby("gender")["speaker"].nunique().to_dict() == {"female": 2, "male": 2}
    assert sorted(a.files["emotion"].unique()) == sorted(spec.kept_emotions)
    assert a.files["duration_s"].between(1.0, 7.0).all()
    for rel in a.files["path"]:
        ya, sr = sf.read(a.root / rel)
        yb, _ = sf.read(b.root / rel)
        assert sr == synthetic.NATIVE_RATE != 16000
        np.testing.assert_array_equal(ya, yb)
        edge = int(0.05 * sr)
        assert np.abs(ya[:edge]).max() < 0.01 and np.abs(ya[-edge:]).max() < 0.01  # leading/trailing silence


def test_synthetic_emotions_differ_in_f0_and_energy() -> None:
    """The acoustic cues a model should pick up are really there (per-utterance RMS and mean f0 proxy)."""
    rms = {}
    for emotion in ("sadness", "happiness"):
        ys = [synthetic.utterance("m1", emotion, np.random.default_rng(i)) for i in range(3)]
        rms[emotion] = np.mean([np.sqrt(np.mean(y[np.abs(y) > 0.01] ** 2)) for y in ys])
    assert rms["happiness"] > 2 * rms["sadness"]


@pytest.mark.emodb
def test_real_emodb_counts(emodb_root: Path, tmp_path: Path) -> None:
    spec = CorpusSpec(name="emodb", root=str(emodb_root))
    c = load_corpus(spec, tmp_path)
    assert len(c.files) == 535 and c.rejected.empty
    assert len(kept(c.files, spec.kept_emotions)) == 339
    genders = c.files.groupby("speaker")["gender"].first().to_dict()
    assert genders == {**{s: "male" for s in ("03", "10", "11", "12", "15")},
                       **{s: "female" for s in ("08", "09", "13", "14", "16")}}
    assert c.files["emotion"].value_counts().to_dict() == {"anger": 127, "boredom": 81, "neutral": 79,
                                                           "happiness": 71, "fear": 69, "sadness": 62, "disgust": 46}


def test_walk_lists_wavs_flat_or_recursive_and_rejects_broken_links(tmp_path: Path) -> None:
    """EmoDB stays one flat folder (a subfolder's files are not its files); a folder named *.wav and a FIFO are not
    candidates (reading a FIFO would block); a dangling symlink is rejected with its target."""
    for name in ("03a01Fa.wav", "08a01Ta.wav", "sub/09a02Na.wav"):
        _wav(tmp_path / name)
    (tmp_path / "dir.wav").mkdir()
    os.mkfifo(tmp_path / "fifo.wav")
    (tmp_path / "10a01Wa.wav").symlink_to(tmp_path / "gone.wav")
    files, unreadable = walk_audio(tmp_path)
    assert [p.relative_to(tmp_path).as_posix() for p in files] == ["03a01Fa.wav", "08a01Ta.wav", "10a01Wa.wav",
                                                                   "sub/09a02Na.wav"]
    assert unreadable == [] and len(walk_audio(tmp_path, recursive=False)[0]) == 3
    c = load_corpus(CorpusSpec(name="emodb", root=str(tmp_path)), tmp_path)
    assert c.files["path"].tolist() == ["03a01Fa.wav", "08a01Ta.wav"]
    assert c.rejected[["path", "reason"]].values.tolist() == [
        ["10a01Wa.wav", f"broken symlink -> {tmp_path / 'gone.wav'}"]]
