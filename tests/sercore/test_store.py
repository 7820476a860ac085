"""Feature store: built once in parallel, reused, rebuilt on change, bad files rejected instead of fatal."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from sercore import extraction
from sercore import store as store_mod
from sercore.env import JobEnv
from sercore.errors import DataError
from sercore.features_job import run_features
from sercore.specs import CorpusSpec, FeatureSettings, FeaturesJob
from sercore.store import open_store

TINY = CorpusSpec(name="synthetic", synthetic_per_class=1)  # 4 speakers x 5 emotions = 20 files
NO_AUG = FeatureSettings(augment=False)


def test_build_then_reuse(cache_dir: Path) -> None:
    s = open_store(TINY, FeatureSettings(), cache_dir, workers=2, progress=False)
    n = len(s.meta)
    assert s.x.shape == (n, 261, 128) and s.x.dtype == np.float32 and isinstance(s.x, np.memmap)
    assert n >= 20 * 9 and np.isfinite(np.asarray(s.x[:50])).all()
    assert {"dataset", "path", "recording", "speaker", "gender", "emotion", "language", "version", "chunk"} \
        <= set(s.meta.columns)
    assert s.meta.groupby("recording")["version"].nunique().eq(9).all()
    assert s.files["kept"].all() and (s.files["n_segments"].sum() == n) and s.rejected.empty
    stamp = (s.path / "x.npy").stat().st_mtime_ns
    again = open_store(TINY, FeatureSettings(), cache_dir, progress=False)
    assert again.path == s.path and (s.path / "x.npy").stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(np.asarray(again.x[:5]), np.asarray(s.x[:5]))
    assert not list(s.path.parent.glob(".*"))  # no temp folder left behind


def test_serial_and_parallel_builds_agree(tmp_path: Path) -> None:
    a = open_store(TINY, NO_AUG, tmp_path / "a", workers=1, progress=False)
    b = open_store(TINY, NO_AUG, tmp_path / "b", workers=2, progress=False)
    # Keys differ: each cache generated its own synthetic copy and the fingerprint includes mtimes. Values are
    # identical: BLAS runs single-threaded in both modes, so sums happen in the same order.
    np.testing.assert_array_equal(np.asarray(a.x), np.asarray(b.x))
    assert a.meta.equals(b.meta) and set(a.meta["version"]) == {"original"}


def test_settings_and_files_are_part_of_the_key(tmp_path: Path, cache_dir: Path) -> None:
    root = tmp_path / "copy"
    shutil.copytree(store_mod.corpus_root(TINY, cache_dir), root)
    spec = CorpusSpec(name="synthetic", root=str(root))
    first = open_store(spec, NO_AUG, tmp_path / "c", workers=1, progress=False)
    other = open_store(spec, FeatureSettings(augment=False, db="standard"), tmp_path / "c", workers=1,
                       progress=False)
    assert other.path != first.path
    # a corrupt file with a valid name and a foreign file: the build goes on and lists both with reasons
    (root / "m1" / "m1-sadness-099.wav").write_bytes(b"RIFF garbage")
    (root / "m1" / "notes.wav").write_bytes(b"")
    changed = open_store(spec, NO_AUG, tmp_path / "c", workers=1, progress=False)
    assert changed.path != first.path and len(changed.meta) == len(first.meta)
    reasons = dict(zip(changed.rejected["path"], changed.rejected["reason"], strict=False))
    assert reasons["m1/m1-sadness-099.wav"].startswith("unreadable") and "does not match" in reasons["m1/notes.wav"]


def test_extraction_failure_rejects_one_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    real = extraction.extract

    def flaky(path: str | Path, fs: FeatureSettings) -> extraction.FileFeatures:
        if Path(path).name == "f1-boredom-000.wav":
            raise DataError(f"{path}: boom")
        return real(path, fs)

    monkeypatch.setattr(extraction, "extract", flaky)
    s = open_store(TINY, NO_AUG, tmp_path, workers=1, progress=False)
    row = s.files.set_index("path").loc["f1/f1-boredom-000.wav"]
    assert not row["kept"] and "feature extraction failed" in row["reason"] and "boom" in row["reason"]
    assert "f1/f1-boredom-000.wav" not in set(s.meta["path"]) and s.files["kept"].sum() == 19


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="does not exist.*expected a flat folder"):
        open_store(CorpusSpec(name="emodb", root=str(tmp_path / "none")), NO_AUG, tmp_path)


def test_run_features_rows(cache_dir: Path, tmp_path: Path) -> None:
    df = run_features(FeaturesJob(corpus=TINY), tmp_path, JobEnv(cache_dir=cache_dir))
    assert list(df.columns) == ["dataset", "path", "speaker", "gender", "emotion", "kept", "reason", "n_segments",
                                "duration_s"]
    assert len(df) == 20 and df["kept"].all() and (df["n_segments"] >= 9).all()


def test_build_runs_in_a_fresh_interpreter_when_tensorflow_is_loaded(
        tmp_path: Path, cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys
    import types

    monkeypatch.setitem(sys.modules, "tensorflow", types.ModuleType("tensorflow"))
    root = store_mod.corpus_root(TINY, cache_dir)
    s = open_store(CorpusSpec(name="synthetic", root=str(root)), NO_AUG, tmp_path, workers=2, progress=False)
    assert len(s.meta) >= 20 and s.x.shape[1:] == (261, 128)
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no recognisable audio files in .*empty"):
        open_store(CorpusSpec(name="emodb", root=str(tmp_path / "empty")), NO_AUG, tmp_path, progress=False)


def test_emotions_outside_the_kept_set_are_not_rejections(cache_dir: Path, tmp_path: Path) -> None:
    spec = CorpusSpec(name="synthetic", root=str(store_mod.corpus_root(TINY, cache_dir)),
                      emotions=("sadness", "happiness"))
    s = open_store(spec, NO_AUG, tmp_path, workers=1, progress=False)
    assert set(s.meta["emotion"]) == {"sadness", "happiness"} and s.rejected.empty
    assert (s.files["reason"] == store_mod.NOT_KEPT).sum() == 12 and s.files["kept"].sum() == 8


def test_failing_child_build_reports_through_its_error_file_not_stdout(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str]) -> None:
    import sys
    import types

    from sercore.cli import store_build

    root = tmp_path / "emodb"
    root.mkdir()
    for name in ("03a01Fa.wav", "08b02Wb.wav"):  # EmoDB names, but no file passes the header check
        (root / name).write_bytes(b"RIFF junk")
    spec = CorpusSpec(name="emodb", root=str(root))
    # the child's side, in process: exit status 2 and the one-line message in the error file
    error_file = tmp_path / "error.txt"
    code = store_build.main([spec.canonical_json(), NO_AUG.canonical_json(), str(tmp_path / "c1"), "--quiet",
                             "--error-file", str(error_file)])
    message = error_file.read_text().strip()
    assert code == 2 and message and "\n" not in message and str(root) in message
    capfd.readouterr()
    # the parent's side: a real child interpreter; its error reaches the DataError, none of it goes to stdout
    monkeypatch.setitem(sys.modules, "tensorflow", types.ModuleType("tensorflow"))
    with pytest.raises(DataError) as info:
        open_store(spec, NO_AUG, tmp_path / "c2", workers=2, progress=False)
    assert str(info.value) == message
    assert message not in capfd.readouterr().out
    assert not list((tmp_path / "c2").glob(".store-build-*"))  # the error file's temp folder is gone
