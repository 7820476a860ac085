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
