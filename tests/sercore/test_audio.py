"""Loading, trimming and the paper's 3 s segmentation (chunk, re-trim, tail rule, tiling)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sercore import audio
from sercore.errors import DataError

SR = 16000


def _tone(seconds: float, sr: int = SR, f: float = 200.0) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.5 * np.sin(2 * np.pi * f * t)).astype(np.float32)


def test_load_downmixes_and_resamples(tmp_path: Path) -> None:
    y = _tone(1.0, 48000)
    sf.write(tmp_path / "s.wav", np.stack([y, 0.5 * y], axis=1), 48000)
    out = audio.load(tmp_path / "s.wav", 16000)
    assert out.dtype == np.float32 and out.ndim == 1 and abs(out.size - 16000) <= 1
    assert np.abs(out).max() == pytest.approx(0.375, rel=0.05)  # mean of the two channels
    with pytest.raises(DataError, match="cannot read audio"):
        audio.load(tmp_path / "missing.wav")


def test_trim_removes_silence_only() -> None:
    y = np.concatenate([np.zeros(8000, np.float32), _tone(1.0), np.zeros(8000, np.float32)])
    out = audio.trim(y)
    assert abs(out.size - 16000) < 1024 and np.abs(out).max() == pytest.approx(0.5, rel=1e-3)


def test_tile_loops_to_exact_length() -> None:
    out = audio.tile(np.arange(5, dtype=np.float32), 12)
    assert out.tolist() == [0, 1, 2, 3, 4, 0, 1, 2, 3, 4, 0, 1]
    with pytest.raises(ValueError):
        audio.tile(np.zeros(0), 4)


def test_short_signal_is_one_tiled_piece() -> None:
    pieces = audio.segment(_tone(1.2), 48000)
    assert len(pieces) == 1 and pieces[0].shape == (48000,)
    np.testing.assert_array_equal(pieces[0][:19200], pieces[0][19200:38400])


def test_long_signal_chunks_and_keeps_any_tail_by_default() -> None:
    y = _tone(6.0 + 0.01)  # two full chunks and a 10 ms tail
    pieces = audio.segment(y, 48000)
    assert len(pieces) == 3 and all(p.shape == (48000,) for p in pieces)
    assert len(audio.segment(y, 48000, min_tail=int(0.9 * SR))) == 2  # the text's 0.9 s rule
    assert len(audio.segment(_tone(6.0), 48000)) == 2  # no tail at all
    assert len(audio.segment(_tone(3.0), 48000)) == 1


def test_each_chunk_is_trimmed_again() -> None:
    # second chunk: 1 s of tone then silence; after re-trimming it is ~1 s long and then tiled
    y = np.concatenate([_tone(3.0), _tone(1.0), np.zeros(32000, np.float32)])
    pieces = audio.segment(y, 48000)
    assert len(pieces) == 2
    assert np.abs(pieces[1]).min() < 0.5 and np.abs(pieces[1][:40000]).max() > 0.4
    assert (np.abs(pieces[1]) < 1e-6).mean() < 0.05  # no long silent stretch left
