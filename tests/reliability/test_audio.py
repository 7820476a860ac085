"""Case 8: a WAV whose header claims another rate than the corpus's, or that was cut short, is rejected with
its reason by the loaders and `describe`; the rest of the corpus is kept."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import soundfile as sf

from sercore.datasets import LOADERS
from sercore.describe import describe

GOOD = ["03a01Fa.wav", "08a01Ta.wav", "09a02Na.wav", "10a01Wa.wav"]


def _tone(path: Path, sr: int, seconds: float = 1.0) -> None:
    t = np.arange(int(sr * seconds)) / sr
    sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype("float32"), sr, subtype="PCM_16")


def _corpus(root: Path) -> None:
    root.mkdir()
    for name in GOOD + ["11a01Fa.wav", "12a01Ta.wav"]:
        _tone(root / name, 16000)
    patched = root / "11a01Fa.wav"  # the header says 8 kHz: read as-is it is twice as long, an octave lower
    raw = bytearray(patched.read_bytes())
    assert raw[12:16] == b"fmt " and struct.unpack_from("<I", raw, 24)[0] == 16000
    struct.pack_into("<II", raw, 24, 8000, 8000 * 2)
    patched.write_bytes(bytes(raw))
    cut = root / "12a01Ta.wav"
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 2])


def test_wrong_rate_and_truncated_wavs_are_rejected_with_reasons(tmp_path: Path) -> None:
    root = tmp_path / "emodb"
    _corpus(root)
    corpus = LOADERS["emodb"]().load(root)
    assert list(corpus.files.path) == sorted(GOOD)
    reasons = dict(zip(corpus.rejected.path, corpus.rejected.reason, strict=True))
    assert reasons == {
        "11a01Fa.wav": "sample rate 8000 Hz in the header, but this corpus is recorded at 16000 Hz "
                       "(re-encoded or corrupt header)",
        # half of 44 header bytes + 16000 frames x 2 bytes, less the header: (32044 // 2 - 44) // 2 frames left
        "12a01Ta.wav": f"truncated: header declares 16000 frames (1.000 s), the file holds {(32044 // 2 - 44) // 2}",
    }
    d = describe("emodb", root, cache_dir=tmp_path / "cache")
    assert d["files"] == len(GOOD)
    assert {r["path"]: r["reason"] for r in d["rejected"]} == reasons


def test_each_corpus_checks_its_own_rate(tmp_path: Path) -> None:
    root = tmp_path / "emovo" / "f1"
    root.mkdir(parents=True)
    _tone(root / "neu-f1-b1.wav", 48000)
    _tone(root / "tri-f1-b1.wav", 16000)  # EMOVO is 48 kHz: a 16 kHz copy was re-encoded
    corpus = LOADERS["emovo"]().load(root.parent)
    assert list(corpus.files.path) == ["f1/neu-f1-b1.wav"]
    assert corpus.rejected.reason.tolist() == [
        "sample rate 16000 Hz in the header, but this corpus is recorded at 48000 Hz (re-encoded or corrupt header)"]
