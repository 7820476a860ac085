"""Reduce a run, first half: merge each stage's shards, check them against the plan and compact them.

Shards are read with an explicit schema unified over every shard (pyarrow's default takes the first file's schema
and silently drops a column that only later shards have). Each shard's footer is read on its own first, so a
truncated or corrupt shard is set aside with its reason instead of failing the whole scan, and the plan's job ids
are compared with what was found: every job ends up `ok`, `missing`, `failed` (error file) or `unreadable`.
"""

from __future__ import annotations

import json
import logging
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from sercore.errors import DataError
from sercore.io import atomic_path, write_parquet

from ..paths import STAGES, RunPaths
from ..plan import read_stage
from ..planned import PlannedJob
from ..shards import error_reason, list_shards
from .params import decode
from .rundata import STATUS_COLUMNS, MergeResult, RunData

log = logging.getLogger(__name__)

_THREADS = min(16, (os.cpu_count() or 2) * 4)
# The model rows' JSON columns (sercore.train writes them as text) and the Arrow type each becomes at merge, so the
# reducer reads lists, maps and structs (pandas: arrays and dicts) and parses no JSON after this module.
_COUNTS = pa.struct([("male", pa.int64()), ("female", pa.int64())])
JSON_COLUMNS: dict[str, pa.DataType] = {
    "classes": pa.list_(pa.string()),
    "confusion": pa.list_(pa.list_(pa.int64())),
    "test_composition": pa.map_(pa.string(), _COUNTS),
    "curves": pa.map_(pa.string(), pa.list_(pa.float64())),
    "test_outcomes": pa.struct([("recording", pa.list_(pa.string())), ("gender", pa.list_(pa.string())),
                                ("correct", pa.list_(pa.int64()))]),
}


def _read_schema(path: Path) -> pa.Schema | str:
    """The shard's schema, or the reason it cannot be read (truncated, not Parquet, empty)."""
    try:
        return pq.read_schema(path)
    except (pa.ArrowException, OSError) as exc:
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"


def _unify(schemas: dict[str, pa.Schema]) -> tuple[pa.Schema, dict[str, str]]:
    """Union of all shard schemas (int64 and double -> double); shards whose column type cannot be reconciled
    with the majority type are returned with a reason and left out."""
    distinct: dict[pa.Schema, list[str]] = {}
    for job_id, schema in schemas.items():
        distinct.setdefault(schema.remove_metadata(), []).append(job_id)
    try:
        return pa.unify_schemas(list(distinct), promote_options="permissive"), {}
    except (pa.ArrowTypeError, pa.ArrowInvalid):
        pass
    # Column by column: keep each column's majority type, set aside shards that disagree irreconcilably.
    votes: dict[str, Counter[pa.DataType]] = {}
    for schema, ids in distinct.items():
        for f in schema:
            votes.setdefault(f.name, Counter())[f.type] += len(ids)
    rejected: dict[str, str] = {}
    for name, counter in votes.items():
        majority = max(counter.items(), key=lambda kv: (kv[1], str(kv[0])))[0]
        for schema, ids in distinct.items():
            if name not in schema.names:
                continue
            other = schema.field(name).type
            try:
                pa.unify_schemas([pa.schema([(name, majority)]), pa.schema([(name, other)])],
                                 promote_options="permissive")
            except (pa.ArrowTypeError, pa.ArrowInvalid):
                for job_id in ids:
                    rejected.setdefault(job_id, f"schema drift: column {name!r} is {other}, other shards have "
                                                f"{majority}")
    kept = [s for s, ids in distinct.items() if not set(ids) & set(rejected)]
    unified = pa.unify_schemas(kept, promote_options="permissive") if kept else pa.schema([])
    return unified, rejected


def _scan(files: dict[str, Path], schema: pa.Schema) -> tuple[pa.Table, dict[str, str]]:
    """Read the good shards in one dataset scan; if a shard's data pages are corrupt, find it file by file."""
    if not files:
        return schema.empty_table(), {}
    try:
        return ds.dataset([str(p) for p in files.values()], schema=schema, format="parquet").to_table(), {}
    except (pa.ArrowException, OSError):
        log.warning("dataset scan failed; reading shards one by one to find the corrupt ones")
    tables, bad = [], {}
    for job_id, path in files.items():
        try:
            tables.append(ds.dataset(str(path), schema=schema, format="parquet").to_table())
        except (pa.ArrowException, OSError) as exc:
            bad[job_id] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return (pa.concat_tables(tables) if tables else schema.empty_table()), bad


def merge_stage(paths: RunPaths, stage: str, *, progress: bool = False) -> MergeResult:
    """Merge one stage's shards into one table and give every planned (or found) job a status. Pure reads."""
    if stage not in STAGES:
        raise DataError(f"unknown stage {stage!r} (expected one of {', '.join(STAGES)})")
    plan = read_stage(paths, stage)
    shards = {job_id: Path(e.path) for job_id, e in list_shards(paths, stage).items()}
    planned = {e.id for e in plan}
    ids = [i for i in shards if not plan or i in planned]  # unplanned shards are listed, never merged
    with ThreadPoolExecutor(_THREADS) as pool:
        results = pool.map(_read_schema, [shards[i] for i in ids])
        if progress and len(ids) > 200:
            from tqdm import tqdm

            results = tqdm(results, total=len(ids), desc=f"reduce {stage}", unit="shard")
        read = dict(zip(ids, results, strict=True))
    unreadable = {i: r for i, r in read.items() if isinstance(r, str)}
    schemas = {i: r for i, r in read.items() if not isinstance(r, str)}
    schema, drifted = _unify(schemas)
    unreadable.update(drifted)
    good = {i: shards[i] for i in ids if i not in unreadable}
    table, corrupt = _scan(good, schema)
    if stage == "attack":
        table = param_columns(table)
    table = typed_columns(table, stage)
    unreadable.update(corrupt)
    status = _status(paths, stage, plan, shards, unreadable)
    for job_id, reason in sorted(unreadable.items()):
        log.warning("%s shard %s set aside: %s", stage, job_id, reason)
    return MergeResult(stage=stage, table=table, status=status, plan=plan)


def param_columns(table: pa.Table) -> pa.Table:
    """Add a `param_<name>` column per attack parameter, decoded from the `params` JSON (the shards' one encoding
    of the parameters), so results can be filtered by value; null where a configuration lacks the parameter."""
    if "params" not in table.column_names or any(n.startswith("param_") for n in table.column_names):
        return table
    codes = table.column("params").combine_chunks().dictionary_encode()
    configs = [k.values for k in decode(codes.dictionary.to_pylist()).values()]
    for name in sorted({k for c in configs for k in c}):
        values = [c.get(name) for c in configs]
        try:
            column = pa.array(values)
        except (pa.ArrowInvalid, pa.ArrowTypeError):  # mixed kinds (norm "inf" or 2.0): as text
            column = pa.array([None if v is None else str(v) for v in values])
        table = table.append_column(f"param_{name}", column.take(codes.indices))
    return table


def typed_columns(table: pa.Table, stage: str) -> pa.Table:
    """Decode each JSON column of `JSON_COLUMNS` the table has into its Arrow type (null stays null); a column
    that is not the JSON sercore writes is a DataError naming it."""
    for name, typ in JSON_COLUMNS.items():
        if name not in table.column_names or table.schema.field(name).type == typ:
            continue
        try:
            values = [json.loads(v) if v else None for v in table.column(name).to_pylist()]
            column = pa.array(values, type=typ)
        except (TypeError, ValueError, pa.ArrowException) as exc:
            raise DataError(f"{stage}: column {name!r} is not the JSON sercore writes ({exc})") from exc
        table = table.set_column(table.column_names.index(name), name, column)
    return table


def _status(paths: RunPaths, stage: str, plan: list[PlannedJob], shards: dict[str, Path],
            unreadable: dict[str, str]) -> pd.DataFrame:
    planned = [e.id for e in plan] if plan else sorted(shards)
    rows = []
    for job_id in planned:
        if job_id in unreadable:
            rows.append((job_id, stage, "unreadable", unreadable[job_id]))
        elif job_id in shards:
            rows.append((job_id, stage, "ok", ""))
        elif paths.error(job_id).is_file():
            rows.append((job_id, stage, "failed", error_reason(paths, job_id)))
        else:
            rows.append((job_id, stage, "missing", "no shard and no error file"))
    planned_set = set(planned)
    for job_id in sorted(set(shards) - planned_set):
        state = "unreadable" if job_id in unreadable else "unplanned"
        rows.append((job_id, stage, state, unreadable.get(job_id, "shard not in the plan (not merged; kept)")))
    return pd.DataFrame(rows, columns=STATUS_COLUMNS)


def compact(paths: RunPaths, result: MergeResult) -> Path:
    """Write the merged stage to results/<stage>.parquet (atomically) for fast re-reading."""
    out = paths.results(result.stage)
    with atomic_path(out) as tmp:
        pq.write_table(result.table, tmp)
    return out


def load_run(run_dir: Path | RunPaths, *, progress: bool = True) -> RunData:
    """Merge and compact every stage the run has (a plan file or a shard folder)."""
    paths = run_dir if isinstance(run_dir, RunPaths) else RunPaths(Path(run_dir))
    if not paths.root.is_dir():
        raise DataError(f"{paths.root}: run folder not found")
    stages = {}
    for stage in STAGES:
        if not (paths.plan(stage).is_file() or paths.shard_dir(stage).is_dir()):
            continue
        result = merge_stage(paths, stage, progress=progress)
        compact(paths, result)
        stages[stage] = result
    if not stages:
        raise DataError(f"{paths.root}: no plan/ or shards/ for any stage ({', '.join(STAGES)})")
    data = RunData(paths=paths, stages=stages)
    write_parquet(data.status, paths.results_dir / "status.parquet")
    return data
