"""Atomic writes: nothing at the final path on failure, no temp leftovers, umask-respecting modes."""

from __future__ import annotations

import os
import stat

import pandas as pd
import pytest

from sercore import io


def test_write_parquet_atomic_and_readable(tmp_path):
    path = tmp_path / "shards" / "a.parquet"
    io.write_parquet(pd.DataFrame({"x": [1, 2]}), path)
    assert pd.read_parquet(path)["x"].tolist() == [1, 2]
    assert [p.name for p in path.parent.iterdir()] == ["a.parquet"]
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == 0o666 & ~io._UMASK


def test_failed_write_leaves_nothing(tmp_path):
    path = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with io.atomic_open(path, "w") as fh:
            fh.write("half")
            raise RuntimeError("killed mid-write")
    assert not path.exists()
    assert list(tmp_path.iterdir()) == []


def test_existing_file_replaced_only_on_success(tmp_path):
    path = tmp_path / "f.json"
    io.write_json(path, {"a": 1})
    with pytest.raises(ValueError):
        with io.atomic_open(path, "w") as fh:
            fh.write("{broken")
            raise ValueError
    assert path.read_text().strip().startswith("{")
    assert '"a": 1' in path.read_text()


def test_atomic_dir_publishes_whole_folder_with_umask_mode(tmp_path):
    final = tmp_path / "cache" / "entry"
    with io.atomic_dir(final) as tmp:
        (tmp / "a.txt").write_text("a")
        assert not final.exists()  # nothing visible until the block ends
    assert (final / "a.txt").read_text() == "a"
    assert stat.S_IMODE(os.stat(final).st_mode) == 0o777 & ~io._UMASK
    assert [p.name for p in final.parent.iterdir()] == ["entry"]


def test_atomic_dir_keeps_the_first_writers_copy(tmp_path):
    final = tmp_path / "entry"
    final.mkdir()
    (final / "first.txt").write_text("first")
    with io.atomic_dir(final) as tmp:
        (tmp / "second.txt").write_text("second")
    assert sorted(p.name for p in final.iterdir()) == ["first.txt"]
    assert [p.name for p in tmp_path.iterdir()] == ["entry"]  # the loser's temp folder is gone


def test_atomic_dir_failure_leaves_nothing(tmp_path):
    with pytest.raises(RuntimeError):
        with io.atomic_dir(tmp_path / "entry") as tmp:
            (tmp / "half").write_text("x")
            raise RuntimeError("killed")
    assert list(tmp_path.iterdir()) == []
