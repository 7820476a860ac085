"""Merging shards: unified schema, per-job status (missing / failed / unreadable), temp files, compaction."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest

from runner.paths import RunPaths
from runner.plan import read_stage
from runner.reduce.merge import load_run, merge_stage
from runner.shards import list_shards
from sercore.errors import DataError
from sercore.io import write_parquet, write_text
from tests.runner.fake_run import ATTACKS, DATASETS, N_TEST, PROTOCOLS_DEFAULT, SEEDS, attack_ids, make_run


@pytest.fixture()
def run(tmp_path: Path) -> RunPaths:
    return make_run(tmp_path / "run")


def _tiny_stage(tmp_path: Path, shards: dict[str, pd.DataFrame], plan: list[str] | None = None) -> RunPaths:
    paths = RunPaths(tmp_path / "tiny")
    for job_id, df in shards.items():
        write_parquet(df, paths.shard("train", job_id))
    if plan is not None:
        write_text(paths.plan("train"), "".join(json.dumps({"id": i, "stage": "train", "spec": {}}) + "\n"
                                                for i in plan))
    return paths


def test_merge_complete_run_counts_every_row(run: RunPaths) -> None:
    res = merge_stage(run, "attack")
    n_configs = sum(len(grid) for grid, _ in ATTACKS.values())
    n_jobs = sum(len(grid) * slices for grid, slices in ATTACKS.values()) * len(DATASETS) * len(SEEDS)
    assert res.complete
    assert (res.status.status == "ok").sum() == n_jobs == len(attack_ids(run))
    assert res.table.num_rows == n_configs * len(DATASETS) * len(SEEDS) * N_TEST * len(PROTOCOLS_DEFAULT)
    assert {"job_id", "stage", "host", "device", "finished_at", "param_eps", "param_theta"} <= set(
        res.table.column_names)


def test_column_missing_from_first_shard_is_kept_and_ints_promote(tmp_path: Path) -> None:
    # "a..." sorts first and lacks `eps`; "b..." has it; `acc` is int64 in one shard and double in the other.
    paths = _tiny_stage(tmp_path, {"a1": pd.DataFrame({"acc": [1, 0]}),
                                   "b2": pd.DataFrame({"acc": [0.5], "eps": [0.25]})})
    res = merge_stage(paths, "train")
    df = res.frame.sort_values("acc").reset_index(drop=True)
    assert str(res.table.schema.field("acc").type) == "double"
    assert df.eps.isna().sum() == 2 and df.eps.max() == 0.25
    assert sorted(df.acc) == [0.0, 0.5, 1.0]


def test_truncated_and_drifted_shards_are_set_aside(tmp_path: Path) -> None:
    good = pd.DataFrame({"acc": [0.9], "note": ["x"]})
    paths = _tiny_stage(tmp_path, {"good": good, "drift": pd.DataFrame({"acc": ["high"]}),
                                   "also": pd.DataFrame({"acc": [0.8], "note": ["y"]})},
                        plan=["good", "drift", "also", "trunc", "gone", "boom"])
    raw = paths.shard("train", "good").read_bytes()
    paths.shard("train", "trunc").write_bytes(raw[: len(raw) // 2])  # a job killed mid-write (no atomic rename)
    write_text(paths.error("boom"), "Traceback (most recent call last):\n  ...\nJobError: upstream has no shard\n")
    (paths.shard_dir("train") / ".x.parquet.abc.tmp").write_bytes(b"partial")  # in-flight temp file
    res = merge_stage(paths, "train")
    status = res.status.set_index("job_id")
    assert status.status.to_dict() == {"good": "ok", "drift": "unreadable", "also": "ok", "trunc": "unreadable",
                                       "gone": "missing", "boom": "failed"}
    assert "schema drift" in status.reason["drift"] and "'acc'" in status.reason["drift"]
    assert "Parquet" in status.reason["trunc"] or "magic" in status.reason["trunc"].lower()
    assert status.reason["boom"] == "JobError: upstream has no shard"
    assert sorted(res.frame.acc) == [0.8, 0.9]
    assert not res.complete and set(res.problems.job_id) == {"drift", "trunc", "gone", "boom"}


def test_unplanned_shard_is_kept_and_listed(tmp_path: Path) -> None:
    paths = _tiny_stage(tmp_path, {"a": pd.DataFrame({"x": [1]}), "extra": pd.DataFrame({"x": [2]})}, plan=["a"])
    res = merge_stage(paths, "train")
    assert dict(zip(res.status.job_id, res.status.status, strict=True)) == {"a": "ok", "extra": "unplanned"}
    assert sorted(res.frame.x) == [1] and res.complete  # listed, never merged (issue 11, case 3)


def test_temp_files_are_not_shards(tmp_path: Path) -> None:
    paths = _tiny_stage(tmp_path, {"a": pd.DataFrame({"x": [1]})})
    (paths.shard_dir("train") / ".a.parquet.123.tmp").write_bytes(b"")
    (paths.shard_dir("train") / "_meta.parquet").write_bytes(b"")
    assert list(list_shards(paths, "train")) == ["a"]


def test_load_run_compacts_each_stage(run: RunPaths) -> None:
    data = load_run(run.root, progress=False)
    assert set(data.stages) == {"features", "tune", "norm_study", "arch_study", "train", "attack"}
    for stage, res in data.stages.items():
        compacted = pq.read_table(run.results(stage))
        assert compacted.num_rows == res.table.num_rows > 0
    status = pd.read_parquet(run.results_dir / "status.parquet")
    assert (status.status == "ok").all() and len(status) == len(data.status)


def test_bad_inputs_raise_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="run folder not found"):
        load_run(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no plan/ or shards/"):
        load_run(tmp_path / "empty")
    paths = RunPaths(tmp_path / "r")
    write_text(paths.plan("train"), '{"id": "a"}\nnot json\n')
    with pytest.raises(DataError, match=r"train.jsonl:2: not a JSON line"):
        read_stage(paths, "train")
    with pytest.raises(DataError, match="unknown stage 'trian'"):
        merge_stage(paths, "trian")


def test_stage_with_only_broken_shards_still_reduces(tmp_path: Path) -> None:
    from runner.reduce.report import reduce_run

    paths = RunPaths(tmp_path / "bad")
    paths.shard_dir("train").mkdir(parents=True)
    paths.shard("train", "x").write_bytes(b"PAR1 not really parquet")
    out = reduce_run(paths.root, progress=False, audio_limit=0)
    assert pq.read_table(paths.results("train")).num_rows == 0
    assert "| x | train | unreadable |" in (out / "README.md").read_text(encoding="utf-8")


def test_param_columns_come_from_the_one_params_encoding() -> None:
    import pyarrow as pa

    from runner.reduce.merge import param_columns

    table = pa.table({"params": ['{"eps":0.25,"norm":"inf"}', '{"norm":2.0}', '{"eps":0.5,"norm":"inf"}']})
    df = param_columns(table).to_pandas()
    assert list(df.columns) == ["params", "param_eps", "param_norm"]
    assert df.param_eps.iloc[0] == 0.25 and pd.isna(df.param_eps.iloc[1]) and df.param_eps.iloc[2] == 0.5
    assert list(df.param_norm) == ["inf", "2.0", "inf"]  # mixed kinds become text rather than failing the merge


def test_model_rows_json_columns_are_typed_once_at_merge(run: RunPaths) -> None:
    from runner.reduce.merge import JSON_COLUMNS
    from runner.reduce.render import csv_frame

    res = merge_stage(run, "train")
    for name in ("classes", "confusion", "test_composition"):
        assert res.table.schema.field(name).type == JSON_COLUMNS[name]
    row = res.frame.iloc[0]
    assert list(row.classes) == sorted(row.classes) and len(row.classes) == 5
    assert isinstance(row.test_composition, dict) and set(next(iter(row.test_composition.values()))) == {
        "male", "female"}
    assert int(sum(sum(r) for r in row.confusion)) == 25
    load_run(run, progress=False)  # the compacted results hold the typed columns, not JSON text
    assert pq.read_table(run.results("train")).schema.field("confusion").type == JSON_COLUMNS["confusion"]
    text = csv_frame(res.frame[["classes", "test_composition"]].iloc[:1])  # a report CSV writes them as JSON
    assert json.loads(text.classes.iloc[0]) == list(row.classes)
    assert json.loads(text.test_composition.iloc[0]) == row.test_composition


def test_a_json_column_that_is_not_sercores_names_the_column(tmp_path: Path) -> None:
    paths = _tiny_stage(tmp_path, {"a": pd.DataFrame({"job_id": ["a"], "classes": ["not json"]})})
    with pytest.raises(DataError, match="train: column 'classes' is not the JSON sercore writes"):
        merge_stage(paths, "train")
