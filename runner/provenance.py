"""Which code made a shard: the worker's code version as shard columns, read back cheaply by `status` and `plan`.

A job id hashes the job's spec, not the code, so after a code fix `submit` would reuse shards made by the old
code. Every shard therefore records (docs/contracts.md, runner):

    sertack_version   the package version (sercore.__version__)
    code_hash         sha256 (first 16 hex) of every sercore/ and runner/ .py file, path and bytes, in path order
    git_commit        HEAD of the checkout the code was imported from; null without git or outside a checkout
    git_dirty         tracked files changed since that commit; null when git_commit is null
    packages          JSON {tensorflow, keras, adversarial-robustness-toolbox, numpy: version or null}

All computed once per process. `shard_codes` reads a shard's code_hash from its Parquet footer's column
statistics (no data pages), remembered in `shards/<stage>/.code.json` by size and mtime like the validity check.
A shard without the column (written before this existed) has code hash "" and counts as made by other code; a
shard without rows (an empty attack slice) has no statistics and never counts.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata as md
import json
import subprocess
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import pandas as pd

from .paths import RunPaths
from .shards import list_shards

PACKAGES = ("tensorflow", "keras", "adversarial-robustness-toolbox", "numpy")
CODE_COLUMNS = ("sertack_version", "code_hash", "git_commit", "git_dirty", "packages")
CODE_CACHE = ".code.json"
EMPTY = "-"  # a shard without rows (an attack slice past the test set) has no statistics and no results to redo
SOURCE_PACKAGES = ("sercore", "runner")


def _source_root() -> Path:
    return Path(__file__).resolve().parents[1]


@functools.cache
def code_hash(root: Path | None = None) -> str:
    """16 hex digits over the .py files of sercore/ and runner/ (relative path and bytes, sorted by path)."""
    root = root or _source_root()
    digest = hashlib.sha256()
    for pkg in SOURCE_PACKAGES:
        for path in sorted((root / pkg).rglob("*.py")):
            digest.update(path.relative_to(root).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


@functools.cache
def git_state(root: Path | None = None) -> tuple[str | None, bool | None]:
    """(commit, dirty) of the checkout holding the sources; (None, None) without git or a checkout."""
    root = root or _source_root()
    commit = _git(root, "rev-parse", "HEAD")
    if not commit:
        return None, None
    status = _git(root, "status", "--porcelain", "--untracked-files=no")
    return commit, None if status is None else bool(status)


def _git(root: Path, *args: str) -> str | None:
    if not (root / ".git").exists():  # an installed copy inside another repository is not that repository's code
        return None
    try:
        out = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=20, check=True)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip()


def installed_versions(packages: Iterable[str]) -> dict[str, str | None]:
    """{package: its installed version, None when it is not installed}."""
    found: dict[str, str | None] = {}
    for pkg in packages:
        try:
            found[pkg] = md.version(pkg)
        except md.PackageNotFoundError:
            found[pkg] = None
    return found


@functools.cache
def package_versions() -> str:
    """JSON of the key packages' versions (null when absent), sorted keys."""
    return json.dumps(installed_versions(PACKAGES), sort_keys=True)


def code_version() -> dict[str, Any]:
    """This process's code version as one dict (the shard columns' values)."""
    from sercore import __version__

    commit, dirty = git_state()
    return {"sertack_version": __version__, "code_hash": code_hash(), "git_commit": commit, "git_dirty": dirty,
            "packages": package_versions()}


def code_columns(n: int) -> dict[str, Any]:
    """The columns the worker adds to a shard of `n` rows (nullable string/boolean arrays, so a null stays
    typed and every shard's schema agrees)."""
    v = code_version()
    return {**{k: v[k] for k in ("sertack_version", "code_hash", "packages")},
            "git_commit": pd.array([v["git_commit"]] * n, dtype="string"),
            "git_dirty": pd.array([v["git_dirty"]] * n, dtype="boolean")}


def shard_codes(paths: RunPaths, stage: str, ids: Iterable[str]) -> dict[str, str]:
    """{job id: code_hash} of the existing shards among `ids` ("" when the shard records none)."""
    entries = list_shards(paths, stage)
    cache_file = paths.shard_dir(stage) / CODE_CACHE
    try:
        cache: dict[str, list[Any]] = json.loads(cache_file.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        cache = {}
    out: dict[str, str] = {}
    fresh: dict[str, list[Any]] = {}
    for job_id in ids:
        entry = entries.get(job_id)
        if entry is None:
            continue
        st = entry.stat()
        key = [st.st_size, st.st_mtime_ns]
        hit = cache.get(job_id)
        value = hit[2] if hit and hit[:2] == key else _footer_code(Path(entry.path))
        out[job_id] = value
        fresh[job_id] = [*key, value]
    if fresh != cache:
        try:
            from sercore.io import write_json

            write_json(cache_file, fresh)
        except OSError:  # a read-only run folder: just not remembered
            pass
    return out


def _footer_code(path: Path) -> str:
    """The shard's code_hash from its footer statistics ("" if absent or unreadable: treated as other code)."""
    import pyarrow.parquet as pq

    try:
        meta = pq.ParquetFile(path).metadata
        col = meta.schema.names.index("code_hash")
    except Exception:  # unreadable (the validity check reports it) or no such column (an older shard)
        return ""
    if meta.num_rows == 0:
        return EMPTY
    values = set()
    for i in range(meta.num_row_groups):
        stats = meta.row_group(i).column(col).statistics
        if stats is None or not stats.has_min_max:
            continue
        values |= {stats.min, stats.max}
    return values.pop() if len(values) == 1 else ""


def code_labels(frame: pd.DataFrame) -> pd.Series:
    """Per shard row, `sertack 0.1.0 code 6dce0cdb8bafa845 git a82df02 (dirty)` (the report's provenance; no
    git part where the worker had no checkout)."""
    if "code_hash" not in frame:
        return pd.Series(["not recorded"] * len(frame), dtype=object)

    def one(row: Any) -> str:
        commit, dirty = getattr(row, "git_commit", None), getattr(row, "git_dirty", None)
        dirty = bool(dirty) if dirty is not None and not pd.isna(dirty) else False
        git = f" git {str(commit)[:7]}{' (dirty)' if dirty else ''}" if isinstance(commit, str) and commit else ""
        return f"sertack {getattr(row, 'sertack_version', '?')} code {row.code_hash}{git}"

    return pd.Series([one(r) for r in frame.itertuples(index=False)], dtype=object)


def stale_ids(paths: RunPaths, stage: str, done: Iterable[str]) -> dict[str, str]:
    """{job id: its shard's code hash} for done jobs whose shard was made by code other than this process's."""
    current = code_hash()
    return {j: h for j, h in shard_codes(paths, stage, done).items() if h not in (current, EMPTY)}
