"""Corpora that drop or keep files silently (issue 23 item 5): an unreadable speaker folder or file, samples far
beyond full scale, stereo channels that cancel on downmix, and symlinks leaving the corpus root are each rejected
with their reason, by the built-in loaders and manifest corpora alike, and counted by `describe`.

Permissions: the tests run as root (here and in CI), and root ignores chmod 000. The `deny` fixture therefore
chmods the path AND, only when running as root, wraps the calls the loader reads through (`os.scandir`, what
`os.walk` lists a folder with; `os.open`, how a file is probed; `os.stat`/`os.lstat` of a path inside a denied
folder) to raise the PermissionError a non-root user gets. Under a non-root uid the kernel refuses by itself and
the wrappers never fire. On the old code the same seam reproduces the campaign's finding: `Path.rglob` also lists
folders with `os.scandir` and swallowed the error ("0 rejected", the actor gone). (Running the check under
another uid was the alternative; here the interpreter lives under /root, which no other user may enter.)
"""

from __future__ import annotations

import argparse
import errno
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from sercore.audio import load
from sercore.cli import describe as describe_cli
from sercore.datasets import LOADERS, ManifestLoader, load_corpus
from sercore.describe import describe
from sercore.errors import DataError
from sercore.specs import CorpusSpec
from sercore.store import fingerprint

EMODB_GOOD = ["03a01Fa.wav", "08a01Ta.wav", "09a02Na.wav", "10a01Wa.wav"]


def _wav(path: Path, sr: int = 16000, *, amp: float = 0.3, stereo_sign: float | None = None,
         subtype: str = "PCM_16", seconds: float = 0.2) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    y = amp * np.sin(2 * np.pi * 220 * np.arange(int(sr * seconds)) / sr)
    data = y if stereo_sign is None else np.stack([y, stereo_sign * y], axis=1)
    sf.write(path, data.astype("float32"), sr, subtype=subtype)


@pytest.fixture
def deny(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[[Path], None]]:
    """deny(path): make a folder or file unreadable as chmod 000 does for a non-root user (see the docstring)."""
    denied: set[str] = set()
    real_scandir, real_open, real_stat, real_lstat = os.scandir, os.open, os.stat, os.lstat

    def refuse(path: object, *, itself: bool = True) -> None:
        """Refuse reading a denied path itself (`itself`) or anything inside a denied folder (no search right)."""
        if os.geteuid() != 0 or not isinstance(path, str | os.PathLike):
            return
        p = os.path.abspath(path)
        if (itself and p in denied) or any(str(parent) in denied for parent in Path(p).parents):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))

    def scandir(path: str | os.PathLike[str] = ".") -> object:
        refuse(path)
        return real_scandir(path)

    def open_(path: str | os.PathLike[str], flags: int, mode: int = 0o777, *, dir_fd: int | None = None) -> int:
        refuse(path)
        return real_open(path, flags, mode, dir_fd=dir_fd)

    def stat(path: str | os.PathLike[str], **kw: object) -> os.stat_result:
        refuse(path, itself=False)
        return real_stat(path, **kw)  # type: ignore[arg-type]

    def lstat(path: str | os.PathLike[str], **kw: object) -> os.stat_result:
        refuse(path, itself=False)
        return real_lstat(path, **kw)  # type: ignore[arg-type]

    for name, wrapper in (("scandir", scandir), ("open", open_), ("stat", stat), ("lstat", lstat)):
        monkeypatch.setattr(os, name, wrapper)

    def make(path: Path) -> None:
        path.chmod(0)
        denied.add(os.path.abspath(path))

    yield make
    for p in denied:
        os.chmod(p, 0o755)


def _reasons(corpus: object) -> dict[str, str]:
    rej = corpus.rejected  # type: ignore[attr-defined]
    return dict(zip(rej["path"], rej["reason"], strict=True))


def test_unreadable_speaker_folder_is_rejected_not_dropped(tmp_path: Path, deny: Callable[[Path], None]) -> None:
    root = tmp_path / "ravdess"
    for actor in range(1, 5):
        for emotion in (1, 5):
            _wav(root / f"Actor_{actor:02d}" / f"03-01-{emotion:02d}-01-01-01-{actor:02d}.wav", 48000)
    deny(root / "Actor_03")
    corpus = LOADERS["ravdess"]().load(root)
    assert len(corpus.files) == 6 and sorted(corpus.files["speaker"].unique()) == ["01", "02", "04"]
    assert _reasons(corpus) == {"Actor_03": "permission denied"}
    d = describe("ravdess", root, cache_dir=tmp_path / "cache")
    assert d["rejected"] == [{"path": "Actor_03", "reason": "permission denied"}]
    assert d["rejected_by_reason"] == {"permission denied": 1}


def test_manifest_rows_in_an_unreadable_folder_are_rejected(tmp_path: Path, deny: Callable[[Path], None]) -> None:
    """The manifest route: the store's fingerprint and the loader both stat each row; neither may raise."""
    root = tmp_path / "ravdess"
    rows = [f"Actor_{a:02d}/03-01-{e:02d}-01-01-01-{a:02d}.wav" for a in (1, 2) for e in (1, 5)]
    for rel in rows:
        _wav(root / rel, 48000)
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,emotion\n" + "".join(f"{p},{'anger' if i % 2 else 'neutral'}\n"
                                                   for i, p in enumerate(rows)), encoding="utf-8")
    spec = CorpusSpec(name="mine", root=str(root), manifest=str(manifest))
    deny(root / "Actor_02")
    assert len(fingerprint(spec, root)) == 64
    corpus = ManifestLoader(spec).load(root)
    assert list(corpus.files["path"]) == rows[:2]
    assert _reasons(corpus) == {rows[2]: f"{manifest} line 4: permission denied",
                                rows[3]: f"{manifest} line 5: permission denied"}


def test_unreadable_file_says_permission_denied(tmp_path: Path, deny: Callable[[Path], None]) -> None:
    root = tmp_path / "emodb"
    for name in EMODB_GOOD + ["11a01Fa.wav"]:
        _wav(root / name)
    deny(root / "11a01Fa.wav")
    corpus = LOADERS["emodb"]().load(root)
    assert list(corpus.files["path"]) == EMODB_GOOD
    assert _reasons(corpus) == {"11a01Fa.wav": "permission denied"}


def test_audio_load_of_an_unreadable_file_says_permission_denied(tmp_path: Path,
                                                                  deny: Callable[[Path], None]) -> None:
    _wav(tmp_path / "a.wav")
    deny(tmp_path / "a.wav")
    with pytest.raises(DataError, match=f"^cannot read audio {tmp_path / 'a.wav'}: permission denied$"):
        load(tmp_path / "a.wav")


def test_float_wav_beyond_full_scale_is_rejected_with_its_peak(tmp_path: Path) -> None:
    root = tmp_path / "emodb"
    for name in EMODB_GOOD:
        _wav(root / name)
    _wav(root / "11a01Fa.wav", amp=8.0, subtype="FLOAT")  # written unnormalised
    _wav(root / "12a01Ta.wav", amp=1.0005, subtype="FLOAT")  # a rounding overshoot: within the tolerance
    corpus = LOADERS["emodb"]().load(root)
    assert list(corpus.files["path"]) == sorted(EMODB_GOOD + ["12a01Ta.wav"])
    assert _reasons(corpus) == {"11a01Fa.wav": "samples outside [-1, 1] (peak 8.0)"}


def test_stereo_channels_that_cancel_are_rejected(tmp_path: Path) -> None:
    root = tmp_path / "emovo" / "f1"
    _wav(root / "neu-f1-b1.wav", 48000, stereo_sign=1.0)
    _wav(root / "rab-f1-b1.wav", 48000, stereo_sign=0.5)  # unequal channels: a quieter mix, still speech
    _wav(root / "tri-f1-b1.wav", 48000, stereo_sign=-1.0, subtype="FLOAT")  # L = -R: all zeros once mixed
    corpus = LOADERS["emovo"]().load(root.parent)
    assert list(corpus.files["path"]) == ["f1/neu-f1-b1.wav", "f1/rab-f1-b1.wav"]
    assert _reasons(corpus) == {"f1/tri-f1-b1.wav": "silent after mixing down to mono: the channels cancel "
                                                    "(peak 0.3 per channel, 0.0e+00 mixed)"}


def _linked_corpus(tmp_path: Path) -> tuple[Path, Path]:
    """An EmoDB folder with a symlink to a file inside it (fine) and one to a file outside it."""
    root, outside = tmp_path / "emodb", tmp_path / "elsewhere" / "x.wav"
    for name in EMODB_GOOD:
        _wav(root / name)
    _wav(outside)
    (root / "15a01Wa.wav").symlink_to(root / "03a01Fa.wav")
    (root / "16a01Wa.wav").symlink_to(outside)
    return root, outside


def test_symlink_leaving_the_root_is_refused_unless_allowed(tmp_path: Path) -> None:
    root, outside = _linked_corpus(tmp_path)
    spec = CorpusSpec(name="emodb", root=str(root))
    corpus = load_corpus(spec, tmp_path)
    assert list(corpus.files["path"]) == sorted(EMODB_GOOD + ["15a01Wa.wav"])
    assert _reasons(corpus) == {"16a01Wa.wav": f"symlink leaving the corpus root -> {outside.resolve()}"}
    allowed = CorpusSpec.model_validate({"name": "emodb", "root": str(root), "follow_symlinks": True})
    followed = load_corpus(allowed, tmp_path)
    assert list(followed.files["path"]) == sorted(EMODB_GOOD + ["15a01Wa.wav", "16a01Wa.wav"])
    assert followed.rejected.empty
    # A late field: off, the canonical JSON (so every existing job id) is unchanged; on, the store is another one.
    assert "follow_symlinks" not in spec.canonical_json() and '"follow_symlinks":true' in allowed.canonical_json()
    assert fingerprint(spec, root) != fingerprint(allowed, root)


def test_manifest_corpus_gets_the_same_checks_with_its_lines(tmp_path: Path, deny: Callable[[Path], None]) -> None:
    root, outside = _linked_corpus(tmp_path)
    _wav(root / "loud.wav", amp=8.0, subtype="FLOAT")
    _wav(root / "cancel.wav", stereo_sign=-1.0, subtype="FLOAT")
    _wav(root / "locked.wav")
    deny(root / "locked.wav")
    rows = [*EMODB_GOOD, "16a01Wa.wav", "loud.wav", "cancel.wav", "locked.wav"]
    manifest = tmp_path / "m.csv"
    manifest.write_text("path,emotion\n" + "".join(f"{p},{'anger' if i % 2 else 'sadness'}\n"
                                                   for i, p in enumerate(rows)), encoding="utf-8")
    corpus = ManifestLoader(CorpusSpec(name="mine", root=str(root), manifest=str(manifest))).load(root)
    assert list(corpus.files["path"]) == EMODB_GOOD
    assert _reasons(corpus) == {
        "16a01Wa.wav": f"{manifest} line 6: symlink leaving the corpus root -> {outside.resolve()}",
        "loud.wav": f"{manifest} line 7: samples outside [-1, 1] (peak 8.0)",
        "cancel.wav": f"{manifest} line 8: silent after mixing down to mono: the channels cancel "
                      "(peak 0.3 per channel, 0.0e+00 mixed)",
        "locked.wav": f"{manifest} line 9: permission denied",
    }


def test_describe_lists_and_counts_every_reject(tmp_path: Path, deny: Callable[[Path], None],
                                                capsys: pytest.CaptureFixture[str]) -> None:
    root, outside = _linked_corpus(tmp_path)
    _wav(root / "11a01Fa.wav", amp=8.0, subtype="FLOAT")
    _wav(root / "12a01Ta.wav", stereo_sign=-1.0, subtype="FLOAT")
    _wav(root / "13a01Fa.wav")
    _wav(root / "14a01Ta.wav")
    deny(root / "13a01Fa.wav")
    deny(root / "14a01Ta.wav")
    parser = argparse.ArgumentParser()
    describe_cli.register_cli(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["describe", "emodb", str(root), "--cache", str(tmp_path / "cache")])
    assert args.func(args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[1] == "  files: 5 recognised, 5 rejected; 3 kept (sadness, neutral, happiness, boredom, disgust)"
    assert "  rejected by reason: {'permission denied': 2, 'samples outside [-1, 1]': 1, " \
           "'silent after mixing down to mono': 1, 'symlink leaving the corpus root': 1}" in out
    assert out[-5:] == [
        "  rejected 11a01Fa.wav: samples outside [-1, 1] (peak 8.0)",
        "  rejected 12a01Ta.wav: silent after mixing down to mono: the channels cancel "
        "(peak 0.3 per channel, 0.0e+00 mixed)",
        "  rejected 13a01Fa.wav: permission denied",
        "  rejected 14a01Ta.wav: permission denied",
        f"  rejected 16a01Wa.wav: symlink leaving the corpus root -> {outside.resolve()}",
    ]
    args = parser.parse_args(["describe", "emodb", str(root), "--json", "--cache", str(tmp_path / "cache")])
    assert args.func(args) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["rejected_by_reason"] == {"permission denied": 2, "samples outside [-1, 1]": 1,
                                       "silent after mixing down to mono": 1, "symlink leaving the corpus root": 1}
