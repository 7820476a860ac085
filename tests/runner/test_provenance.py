"""runner.provenance: the code version a worker records in its shards, and reading it back from the footer."""

from __future__ import annotations

import json

import pandas as pd

from runner import provenance
from runner.paths import RunPaths


def test_code_hash_follows_the_sources_and_git_is_optional(tmp_path) -> None:
    for pkg in provenance.SOURCE_PACKAGES:
        (tmp_path / pkg).mkdir()
        (tmp_path / pkg / "a.py").write_text("x = 1\n")
    (tmp_path / "runner" / "notes.txt").write_text("not code")
    before = provenance.code_hash(tmp_path)
    assert len(before) == 16 and provenance.code_hash.__wrapped__(tmp_path) == before
    (tmp_path / "runner" / "notes.txt").write_text("still not code")
    assert provenance.code_hash.__wrapped__(tmp_path) == before
    (tmp_path / "sercore" / "a.py").write_text("x = 2\n")
    assert provenance.code_hash.__wrapped__(tmp_path) != before
    assert provenance.git_state(tmp_path) == (None, None), "no checkout: null commit and dirty flag"
    versions = json.loads(provenance.package_versions())
    assert sorted(versions) == sorted(provenance.PACKAGES) and versions["numpy"]


def test_shard_codes_from_footer_statistics(tmp_path) -> None:
    paths = RunPaths(tmp_path)
    ours, old = provenance.code_hash(), "0123456789abcdef"
    frames = {"a" * 16: pd.DataFrame({"v": [1, 2]}).assign(**provenance.code_columns(2)),
              "b" * 16: pd.DataFrame({"v": [1], "code_hash": [old]}),
              "c" * 16: pd.DataFrame({"v": [1]}),  # written before shards recorded their code
              "d" * 16: pd.DataFrame({"v": pd.Series([], dtype=int)}).assign(**provenance.code_columns(0))}
    for job_id, df in frames.items():
        paths.shard_dir("attack").mkdir(parents=True, exist_ok=True)
        df.to_parquet(paths.shard("attack", job_id), index=False)
    codes = provenance.shard_codes(paths, "attack", [*frames, "e" * 16])
    assert codes == {"a" * 16: ours, "b" * 16: old, "c" * 16: "", "d" * 16: provenance.EMPTY}
    assert provenance.stale_ids(paths, "attack", frames) == {"b" * 16: old, "c" * 16: ""}, "empty slices never"
    cached = json.loads((paths.shard_dir("attack") / provenance.CODE_CACHE).read_text())
    assert cached["b" * 16][2] == old
    schema = pd.read_parquet(paths.shard("attack", "a" * 16)).dtypes
    assert str(schema["git_commit"]) == "string" and str(schema["git_dirty"]) == "boolean"


def test_code_labels_name_version_code_and_commit() -> None:
    df = pd.DataFrame({"sertack_version": ["0.1.0", "0.1.0"], "code_hash": ["0123456789abcdef"] * 2,
                       "git_commit": pd.array(["a82df027f7ea644d", None], dtype="string"),
                       "git_dirty": pd.array([True, None], dtype="boolean")})
    assert provenance.code_labels(df).tolist() == ["sertack 0.1.0 code 0123456789abcdef git a82df02 (dirty)",
                                                   "sertack 0.1.0 code 0123456789abcdef"]
    assert provenance.code_labels(pd.DataFrame({"v": [1]})).tolist() == ["not recorded"]
