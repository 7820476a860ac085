"""Manifest corpora: a CSV or JSONL table lists the files, so any corpus runs without a loader of its own.

Columns: `path` (relative to the corpus root) and `emotion` are required; `speaker`, `gender`, `language` and one
of `split` (train/val/test, a user's official split) or `fold` (0..K-1, official folds) are optional; other
columns are ignored. A label mapping turns the corpus's own labels into the shared vocabulary (`sercore.vocab.
Emotion`). Every problem of the table (missing column, unknown emotion, path outside the root, duplicate path,
bad gender / split / fold value, malformed line) is collected and raised once as a `ConfigError`, one line each:
`FILE:LINE: column 'COL': message (got VALUE)`. Rows that pass go through the same audio checks as every corpus;
a rejected row's reason starts with its manifest line. Any sample rate is accepted (`sercore.audio.load`
resamples and mixes down). See docs/bring-your-own.md.
"""

from __future__ import annotations

import csv
import hashlib
import json
import posixpath
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pandas as pd

from ..errors import ConfigError
from ..specs import CorpusSpec, DataSpec
from ..vocab import BUILTIN_CORPORA, Emotion, Gender
from .base import Corpus, CorpusLoader, check_audio, link_problem

REQUIRED = ("path", "emotion")
OPTIONAL = ("speaker", "gender", "language", "split", "fold")
SPLITS = ("train", "val", "test")
GENDERS = {"male": Gender.MALE.value, "m": Gender.MALE.value, "female": Gender.FEMALE.value,
           "f": Gender.FEMALE.value}
# Speaker or gender of a manifest without that column: a value, not a missing cell, so tables stay typed.
NO_LABEL = "unknown"
# Columns the file table gains from a manifest (the `split`/`fold` names are kept free for the report's own).
SPLIT_COLUMN, FOLD_COLUMN, LINE_COLUMN = "manifest_split", "manifest_fold", "manifest_line"


@dataclass(frozen=True)
class Manifest:
    """A validated manifest: one row per file (path normalised, emotion mapped) and which columns it had."""

    file: Path
    table: pd.DataFrame  # manifest_line, path, emotion, speaker, gender, language[, manifest_split | manifest_fold]
    columns: frozenset[str]  # its header's columns ("split" in m.columns: it has official splits)


# ---------------------------------------------------------------- reading


def _cell(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _read_csv(file: Path, problems: list[str]) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    with file.open(newline="", encoding="utf-8-sig") as f:
        reader = csv.DictReader(f, restkey="\0extra")
        columns = [c.strip() for c in reader.fieldnames or []]
        reader.fieldnames = columns
        rows = []
        for row in reader:
            extra = row.pop("\0extra", None)
            if extra:
                problems.append(f"{file}:{reader.line_num}: {len(columns) + len(extra)} fields, the header has "
                                f"{len(columns)} (got {','.join(map(str, extra))!r} beyond it)")
                continue
            rows.append((reader.line_num, {k: _cell(v) for k, v in row.items()}))
    return columns, rows


def _read_jsonl(file: Path, problems: list[str]) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    rows = []
    for n, text in enumerate(file.read_text(encoding="utf-8").splitlines(), start=1):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            problems.append(f"{file}:{n}: not valid JSON: {exc.msg} at column {exc.colno}")
            continue
        if not isinstance(obj, dict):
            problems.append(f"{file}:{n}: expected one JSON object per line (got {type(obj).__name__})")
            continue
        rows.append((n, {str(k).strip(): _cell(v) for k, v in obj.items()}))
    columns = list(dict.fromkeys(k for _, r in rows for k in r))
    return columns, rows


def read_rows(file: Path, problems: list[str]) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    """(columns, [(line number, row)]) of a CSV or JSONL manifest; unreadable lines go to `problems`."""
    if not file.is_file():
        raise ConfigError(f"{file}: manifest file not found")
    try:
        if file.suffix.lower() in (".jsonl", ".ndjson", ".json"):
            return _read_jsonl(file, problems)
        return _read_csv(file, problems)
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(f"{file}: cannot read the manifest as {'JSONL' if 'json' in file.suffix else 'CSV'}: "
                          f"{exc}") from exc


# ---------------------------------------------------------------- validation


def _norm_path(raw: str, root: Path) -> tuple[str | None, str | None]:
    """(relative POSIX path, None) or (None, why it is refused): it must name a file inside `root`."""
    if not raw:
        return None, "empty"
    p = PurePosixPath(raw)
    if p.is_absolute():
        try:
            p = PurePosixPath(Path(raw).resolve().relative_to(root.resolve()).as_posix())
        except ValueError:
            return None, f"absolute path outside the root {root}"
    norm = posixpath.normpath(p.as_posix())
    if norm == ".." or norm.startswith("../"):
        return None, f"leaves the root {root} (a '..' climbs above it)"
    if norm == ".":
        return None, "names the root folder, not a file"
    return norm, None


def _check_row(row: dict[str, str], labels: dict[str, str],
               root: Path) -> tuple[dict[str, Any], list[tuple[str, str, str]]]:
    """The normalised row and its problems as (column, message, value)."""
    out: dict[str, Any] = {}
    bad: list[tuple[str, str, str]] = []
    path, why = _norm_path(row.get("path", ""), root)
    if why:
        bad.append(("path", why, row.get("path", "")))
    out["path"] = path
    raw = row.get("emotion", "")
    emotion = labels.get(raw, raw)
    if not raw:
        bad.append(("emotion", "empty", raw))
    elif emotion not in {e.value for e in Emotion}:
        hint = " after label_map" if raw in labels else " (map it with label_map, e.g. {ANG: anger})"
        bad.append(("emotion", f"unknown emotion{hint}; expected one of {', '.join(e.value for e in Emotion)}",
                    raw))
    out["emotion"] = emotion
    for col, check in (("speaker", _speaker), ("gender", _gender), ("split", _split), ("fold", _fold)):
        if col in row:
            value, msg = check(row[col])
            if msg:
                bad.append((col, msg, row[col]))
            out[col] = value
    if "language" in row:
        out["language"] = row["language"]  # empty: the corpus language
    return out, bad


def _speaker(v: str) -> tuple[str, str | None]:
    return v, None if v else "empty speaker (drop the column if speakers are unknown)"


def _gender(v: str) -> tuple[str, str | None]:
    g = GENDERS.get(v.lower())
    return (g, None) if g else (v, "bad gender; expected male or female (or m / f; drop the column if unknown)")


def _split(v: str) -> tuple[str, str | None]:
    return (v, None) if v in SPLITS else (v, f"bad split; expected one of {', '.join(SPLITS)}")


def _fold(v: str) -> tuple[int, str | None]:
    return (int(v), None) if v.isdigit() else (-1, "bad fold; expected an integer 0, 1, 2, ...")


def _table_problems(spec: CorpusSpec, file: Path, columns: list[str], table: pd.DataFrame, *,
                    rows_ok: bool) -> list[str]:
    """Problems of the manifest as a whole: columns, and (once every row is valid: before, they would mostly
    repeat the rows' own problems) kept emotions and official sides with no row."""
    out = [f"{file}:1: column {c!r}: missing (the manifest has {', '.join(columns) or 'no columns'}; required: "
           f"{', '.join(REQUIRED)})" for c in REQUIRED if c not in columns]
    if "split" in columns and "fold" in columns:
        out.append(f"{file}:1: column 'fold': give either a split column or a fold column, not both")
    if out or not rows_ok:
        return out
    if table.empty:
        return [f"{file}: no rows: the manifest lists no file"]
    return _coverage_problems(spec, file, columns, table)


def _coverage_problems(spec: CorpusSpec, file: Path, columns: list[str], table: pd.DataFrame) -> list[str]:
    """Kept emotions and official sides (train, val, test; or folds) with no row."""
    out: list[str] = []
    wanted = spec.emotions if spec.emotions is not None else BUILTIN_CORPORA[spec.name].emotions \
        if spec.name in BUILTIN_CORPORA else ()
    found = set(table["emotion"])
    out += [f"{file}: emotions: {e!r} is kept but no row has it (found: {', '.join(sorted(found))})"
            for e in wanted if e not in found]
    if not wanted and len(found) < 2:
        out.append(f"{file}: column 'emotion': a classifier needs at least 2 emotions (found {sorted(found)})")
    if "split" in columns:
        out += [f"{file}: column 'split': no row of split {s!r} (an official split needs train, val and test)"
                for s in SPLITS if s not in set(table["split"])]
    if "fold" in columns and table["fold"].nunique() < 2:
        out.append(f"{file}: column 'fold': official folds need at least 2 distinct folds "
                   f"(found {sorted(set(table['fold']))})")
    return out


def _line_of(problem: str, file: Path) -> int:
    """A problem's manifest line, for listing them in file order (whole-file problems last)."""
    head = problem[len(str(file)) + 1:].split(":", 1)[0]
    return int(head) if head.isdigit() else 1 << 30


def validate(spec: CorpusSpec) -> tuple[Manifest | None, list[str]]:
    """The manifest of `spec` and every problem found in it (the manifest is None when there are problems)."""
    assert spec.manifest is not None and spec.root is not None
    file, root = Path(spec.manifest).expanduser(), Path(spec.root).expanduser()
    problems: list[str] = []
    columns, rows = read_rows(file, problems)
    labels = spec.labels
    seen: dict[str, int] = {}
    good: list[dict[str, Any]] = []
    for line, given in rows:
        if any(c not in columns for c in REQUIRED):
            break  # reported once for the header below
        row = {c: given.get(c, "") for c in columns}  # a JSONL line without a key: an empty cell
        out, bad = _check_row(row, labels, root)
        problems += [f"{file}:{line}: column {col!r}: {msg} (got {value!r})" for col, msg, value in bad]
        if out["path"] is not None and out["path"] in seen:
            problems.append(f"{file}:{line}: column 'path': duplicate of line {seen[out['path']]} "
                            f"(got {out['path']!r})")
        elif out["path"] is not None:
            seen[out["path"]] = line
        if not bad:
            good.append({"line": line, **out})
    table = pd.DataFrame(good, columns=["line", "path", "emotion", *[c for c in OPTIONAL if c in columns]])
    problems += _table_problems(spec, file, columns, table, rows_ok=not problems)
    if problems:
        return None, sorted(problems, key=lambda m: _line_of(m, file))
    return Manifest(file=file, table=table, columns=frozenset(columns)), []


def read_manifest(spec: CorpusSpec) -> Manifest:
    """The validated manifest, or one ConfigError listing every problem (one line each)."""
    manifest, problems = validate(spec)
    if manifest is None:
        raise ConfigError("\n".join(problems))
    return manifest


def resolve(spec: CorpusSpec, manifest: Manifest | None = None) -> CorpusSpec:
    """`spec` with its kept emotions filled in: a manifest corpus without `emotions:` keeps every emotion its
    manifest holds (a built-in name keeps the paper's five)."""
    if spec.manifest is None or spec.emotions is not None or spec.name in BUILTIN_CORPORA:
        return spec
    manifest = manifest or read_manifest(spec)
    return spec.model_copy(update={"emotions": tuple(sorted(set(manifest.table["emotion"])))})


# ---------------------------------------------------------------- the loader


class ManifestLoader(CorpusLoader):
    """A corpus whose files, labels and speakers come from a manifest instead of a folder layout."""

    layout = "the files listed in the manifest, with paths relative to the root"
    sample_rate = None  # any rate: resampled to the feature settings' rate on load

    def __init__(self, spec: CorpusSpec) -> None:
        self.spec = spec
        self.name = spec.name
        self._manifest: Manifest | None = None

    @property
    def manifest(self) -> Manifest:
        if self._manifest is None:
            self._manifest = read_manifest(self.spec)
        return self._manifest

    def list_files(self, root: Path) -> list[Path]:
        # A row under a folder that cannot be searched is left out (the store's fingerprint would stat it and
        # raise); `check` rejects it as 'permission denied'.
        return [p for p in (root / r for r in sorted(self.manifest.table["path"])) if _searchable(p)]

    def candidates(self, root: Path) -> Iterator[tuple[str, dict[str, Any] | str]]:
        m = self.manifest
        for row in m.table.to_dict("records"):
            meta: dict[str, Any] = {"speaker": row.get("speaker", NO_LABEL), "gender": row.get("gender", NO_LABEL),
                                    "language": row.get("language") or self.spec.language_code,
                                    "emotion": row["emotion"], LINE_COLUMN: row["line"]}
            for column, meta_column in (("split", SPLIT_COLUMN), ("fold", FOLD_COLUMN)):
                if column in m.columns:
                    meta[meta_column] = row[column]
            yield row["path"], meta

    def check(self, root: Path, rel: str, meta: dict[str, Any], *, audio: bool = True) -> tuple[float, str | None]:
        where = f"{self.manifest.file} line {meta[LINE_COLUMN]}"
        path = root / rel
        refused = link_problem(root, rel, self.follow_symlinks) or \
            (None if path.is_file() else f"no such file {path}")
        if refused or not audio:
            return (0.0 if refused else float("nan")), f"{where}: {refused}" if refused else None
        facts = BUILTIN_CORPORA.get(self.name)  # a built-in corpus keeps its rate check; any other: any rate
        duration, reason = check_audio(path, facts.sample_rate if facts else None)
        return duration, f"{where}: {reason}" if reason else None

    def fingerprint_extra(self) -> bytes:
        opts = json.dumps({"labels": self.spec.labels, "language": self.spec.language}, sort_keys=True)
        return hashlib.sha256(self.manifest.file.read_bytes()).digest() + opts.encode()


def _searchable(path: Path) -> bool:
    """False when the folder holding `path` may not be searched (stat raises PermissionError)."""
    try:
        path.exists()
    except PermissionError:
        return False
    return True


# ---------------------------------------------------------------- export


def export_manifest(corpus: Corpus, out: Path) -> int:
    """Write the manifest (CSV, or JSONL for a .jsonl name) of a loaded corpus; returns the number of rows."""
    cols = ["path", "emotion", "speaker", "gender", "language"]
    table = corpus.files[cols]
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix.lower() in (".jsonl", ".ndjson"):
        out.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in table.to_dict("records")),
                       encoding="utf-8")
    else:
        table.to_csv(out, index=False)
    return len(table)


# ---------------------------------------------------------------- grid validation


def manifest_corpus(spec: CorpusSpec, where: str, problems: list[str],
                    columns: dict[str, frozenset[str]]) -> list[CorpusSpec]:
    """A grid's manifest corpus checked before anything runs: [the spec with its kept emotions filled in], or []
    with every problem of its manifest appended to `problems`. `columns[name]` records the manifest's columns
    for `protocol_problems`."""
    try:
        manifest, found = validate(spec)
    except ConfigError as exc:  # the manifest file is missing or unreadable
        problems.append(f"{where}.manifest: {exc}")
        return []
    problems += found
    if manifest is None:
        return []
    columns[spec.name] = manifest.columns
    return [resolve(spec, manifest)]


def protocol_problems(data_specs: Iterable[DataSpec], columns: dict[str, frozenset[str]], file: str) -> list[str]:
    """The speaker protocol (and speaker-independent clean splits) need a speaker column; the speaker protocol
    also a gender column, as it holds out as many male as female speakers. One line per corpus and need."""
    out: list[str] = []
    for data in data_specs:
        have = columns.get(data.corpus.name)
        if have is None:
            continue
        what = "protocol 'speaker'" if data.protocol == "speaker" else "speaker_independent: true"
        need = (["speaker"] if data.protocol == "speaker" or data.speaker_independent else []) + \
            (["gender"] if data.protocol == "speaker" else [])
        out += [f"{file}: corpora: {data.corpus.name}: {what} needs a {col} column, but {data.corpus.manifest} has "
                f"none (add one, or run this corpus under another protocol)" for col in need if col not in have]
        out += _official_problems(data, have, file)
    return list(dict.fromkeys(out))


def _official_problems(data: DataSpec, have: frozenset[str], file: str) -> list[str]:
    """Under `clean` an official split replaces the random one, and official folds the random k-fold: a grid
    asking for the other is refused rather than silently overridden."""
    if data.protocol != "clean":
        return []
    where = f"{file}: corpora: {data.corpus.name}: {data.corpus.manifest}"
    if "split" in have and data.folds is not None:
        return [f"{where} has an official split column, which the clean protocol uses; drop `folds: {data.folds}`"]
    if "fold" in have and data.folds is None:
        return [f"{where} has official folds: the clean protocol runs them with `folds: K` (K = how many folds)"]
    return []
