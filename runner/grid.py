"""Grid files: load (yaml.safe_load), interpolate `${VAR}`, apply `--set` overrides, validate, expand to job specs.

A grid names corpora, protocols, seeds and per-stage settings; any list at a leaf is a sweep. Each stage's jobs
are the cartesian product of its sweeps with the corpora, protocols and seeds. Fields whose value is itself a
sequence (`pitch_steps`, a tune search space such as `lstm_units`, `emotions`) take a list as their value; to sweep
those, give a list of lists. Every problem is collected before anything runs and raised once as a `GridError`
whose lines read `FILE: key.path: message (got X; expected one of ...)`.

Limits (docs/runner.md, "Limits"): YAML aliases may not stand for more than `gridfile.MAX_VALUES` values, the
sweeps are multiplied out from their lengths and a grid over MAX_JOBS is refused before one job is built,
`submit` wants `--yes` above CONFIRM_JOBS, and echoed values are clipped to 80 characters.

Expansion builds each distinct sub-spec (ModelSpec, DataSpec, TrainJob...) once and validates each distinct
attack parameter set once, so 10,000-job grids expand in well under the 2 s budget.
"""

from __future__ import annotations

import copy
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field, ValidationError

from sercore.datasets.manifest import manifest_corpus, protocol_problems
from sercore.errors import ConfigError
from sercore.specs import CorpusSpec, FeatureSettings
from sercore.stats import StatsSettings
from sercore.strict import StrictNumbers, pydantic_problems
from sercore.vocab import Protocol

from .container import ContainerSpec
from .expand import Job, check_name, count_jobs, count_node, expand_node, expand_stage_jobs
from .gridfile import check_size, clip, clip_echo, load_yaml, path_problems
from .paths import STAGES
from .problems import Problems
from .resources import Resources, load_profile

# `$${` (escape) | a well-formed `${NAME}` / `${NAME:-default}` | anything else from `${` to `}` or the end
_VAR = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?")
MAX_JOBS = 1_000_000  # a grid expanding to more is refused before expansion (counted from its sweep lengths)
CONFIRM_JOBS = 100_000  # `submit` asks for --yes above this many jobs


class GridError(ConfigError):
    """Every problem found in a grid, one `FILE: key.path: message` per line."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = [clip_echo(p) for p in problems]  # a 1 MB value is echoed as its first 80 characters
        super().__init__("\n".join(self.problems))


def _no_container(v: Any) -> Any:
    return None if v in ("none", "None", False) else v


class Settings(StrictNumbers):
    """The grid's top level minus the science (corpora, features, stages), validated strictly."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    name: Annotated[str, AfterValidator(check_name)]
    output: str | None = None  # run folder; relative paths are taken from the current directory
    cache: str | None = None  # feature cache; default RUN/cache
    executor: Literal["local", "debug", "slurm"] = "local"
    # `container: none` (or None, false): run bare
    container: Annotated[ContainerSpec | None, BeforeValidator(_no_container)] = None
    profile: str | None = None  # slurm/profiles/<site>.yaml
    seeds: tuple[int, ...] = Field((0,), min_length=1)
    protocols: tuple[Protocol, ...] = Field(("paper",), min_length=1)
    resources: dict[str, Resources] = Field(default_factory=dict)
    statistics: StatsSettings = StatsSettings()  # the report's bootstrap / tests (read by the reducer)


TOP_KEYS = (*Settings.model_fields, "corpora", "features", "stages")


@dataclass(frozen=True)
class Grid:
    """A validated, expanded grid: settings, per-stage resources and jobs (stages in dependency order)."""

    source: Path
    raw: dict[str, Any]  # after interpolation and overrides: the run folder's frozen grid.yaml
    settings: Settings
    jobs: dict[str, list[Job]] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.settings.name

    @property
    def stages(self) -> list[str]:
        return [s for s in STAGES if s in self.jobs]

    @property
    def output(self) -> Path:
        return Path(self.settings.output or f"runs/{self.settings.name}")

    @property
    def cache(self) -> Path | None:
        return Path(self.settings.cache) if self.settings.cache else None

    def resources(self, stage: str) -> Resources:
        base = self.settings.resources.get("default", Resources())
        extra = self.settings.resources.get(stage)
        if extra is None:
            return base
        return Resources.model_validate({**base.model_dump(), **extra.model_dump(exclude_unset=True)})

    def count(self) -> int:
        return sum(len(v) for v in self.jobs.values())


# ---------------------------------------------------------------- raw dict handling


def read_yaml(path: Path, problems: list[str] | None = None) -> dict[str, Any]:
    """The grid's mapping; duplicate keys go to `problems` (runner.gridfile), syntax errors raise FILE:LINE:COL."""
    data, duplicates = load_yaml(path)
    if problems is not None:
        problems.extend(duplicates)
    elif duplicates:
        raise GridError(duplicates)
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: a grid is a mapping of keys (got {type(data).__name__})")
    return data


def apply_overrides(data: dict[str, Any], overrides: Iterable[str], where: str) -> dict[str, Any]:
    """`key.path=value` (value parsed as YAML, so `seeds=[0,1]` is a list); list items by index: `corpora.0.root`."""
    data = copy.deepcopy(data)
    for item in overrides:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected key.path=value")
        try:
            parsed = yaml.safe_load(value) if value else None
        except yaml.YAMLError as exc:
            raise ConfigError(f"--set {clip(item)!r}: value is not valid YAML") from exc
        check_size(parsed, f"--set {clip(key)}")
        node: Any = data
        parts = key.split(".")
        for i, part in enumerate(parts):
            last = i == len(parts) - 1
            if isinstance(node, list):
                if not part.isdigit() or int(part) >= len(node):
                    raise ConfigError(f"--set {key}: {'.'.join(parts[:i]) or where} has no item {part!r}")
                if last:
                    node[int(part)] = parsed
                else:
                    node = node[int(part)]
            elif isinstance(node, dict):
                if last:
                    node[part] = parsed
                else:
                    node = node.setdefault(part, {})
            else:
                raise ConfigError(f"--set {key}: {'.'.join(parts[:i])} is a value, not a mapping")
    return data


def interpolate(node: Any, path: str, problems: list[str], file: str) -> Any:
    """Replace `${VAR}` / `${VAR:-default}` in every string; an unset variable without default is a problem, and
    so is any other `${...}` (`${}`, `${X`, `${1BAD}`, `${A-b}` would otherwise stay in paths literally).
    `$${` writes a literal `${`."""
    if isinstance(node, dict):
        return {k: interpolate(v, f"{path}.{k}" if path else str(k), problems, file) for k, v in node.items()}
    if isinstance(node, list):
        return [interpolate(v, f"{path}[{i}]", problems, file) for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:

        def sub(m: re.Match[str]) -> str:
            token = m.group(0)
            if token == "$${":
                return "${"
            if m.group(1) is None:
                problems.append(f"{file}: {path}: malformed variable {clip(token)!r} (expected ${{NAME}} or "
                                f"${{NAME:-default}}, NAME = [A-Za-z_][A-Za-z0-9_]*; $${{ writes a literal ${{)")
                return token
            value = os.environ.get(m.group(1))
            if value is None and m.group(2) is not None:
                return m.group(2)
            if value is None:
                problems.append(f"{file}: {path}: environment variable {m.group(1)} is not set (got {node!r})")
                return token
            return value

        return _VAR.sub(sub, node)
    return node


# ---------------------------------------------------------------- loading


def load_grid(path: str | os.PathLike[str], overrides: Iterable[str] = ()) -> Grid:
    """Read, override, interpolate, validate and expand a grid file; raise GridError listing every problem."""
    src = Path(path)
    file = str(path)
    early: list[str] = []
    raw = apply_overrides(read_yaml(src, early), overrides, file)
    return build_grid(raw, src, early)


def build_grid(raw: dict[str, Any], source: Path, early: list[str] | None = None) -> Grid:
    file = str(source)
    problems = Problems(file, early or [])
    data = interpolate(raw, "", problems, file)
    for key in data:
        if key not in TOP_KEYS:
            problems.append(f"{file}: {key}: unknown key (expected one of {', '.join(TOP_KEYS)})")
    settings = _settings(data, file, problems)
    if settings is not None:
        problems.extend(path_problems(file, "output", settings.output or f"runs/{settings.name}"))
        problems.extend(path_problems(file, "cache", settings.cache))
    manifest_columns: dict[str, frozenset[str]] = {}
    corpora = _corpora(data.get("corpora"), file, problems, manifest_columns)
    features = _features(data.get("features"), file, problems)
    stages = data.get("stages")
    jobs: dict[str, list[Job]] = {}
    if not isinstance(stages, dict) or not stages:
        problems.append(f"{file}: stages: required mapping of stage settings (expected keys among {', '.join(STAGES)})")
    else:
        # Expand even when the parts above had problems (with stand-ins), so stage problems are reported too.
        protocols, seeds = (settings.protocols, settings.seeds) if settings else (("paper",), (0,))
        corpora, features = corpora or [CorpusSpec(name="synthetic")], features or [FeatureSettings()]
        if not _too_many(count_jobs(stages, corpora, len(features), protocols, seeds), file, problems):
            jobs = expand_stage_jobs(stages, corpora, features, protocols, seeds, problems)
    problems += protocol_problems((j.spec.data for js in jobs.values() for j in js if hasattr(j.spec, "data")),
                                  manifest_columns, file)
    if settings is not None and settings.profile:
        try:
            load_profile(settings.profile)
        except ConfigError as exc:
            problems.append(f"{file}: profile: {exc}")
    if problems:
        raise GridError(list(dict.fromkeys(problems)))
    assert settings is not None
    return Grid(source=source, raw=data, settings=settings, jobs=jobs)


def _too_many(counts: dict[str, int], file: str, problems: list[str]) -> bool:
    """Refuse, before building a single job, a grid whose sweeps multiply out past MAX_JOBS."""
    total = sum(counts.values())
    if total <= MAX_JOBS:
        return False
    per = ", ".join(f"{stage} {n:,}" for stage, n in counts.items() if n)
    problems.append(f"{file}: stages: the sweeps multiply out to {total:,} jobs ({per}), over the limit of "
                    f"{MAX_JOBS:,}; split the grid")
    return True


def confirm_size(grid: Grid, yes: bool) -> None:
    """`submit` of more than CONFIRM_JOBS jobs needs `--yes` (a typo in a sweep should not queue 10^5 jobs)."""
    if grid.count() > CONFIRM_JOBS and not yes:
        raise ConfigError(f"{grid.source}: {grid.count():,} jobs, more than {CONFIRM_JOBS:,}; check `plan` and "
                          "pass --yes to submit them")


def _settings(data: dict[str, Any], file: str, problems: list[str]) -> Settings | None:
    picked = {k: data[k] for k in Settings.model_fields if k in data}
    bad_res = [k for k in (picked.get("resources") or {}) if k not in ("default", *STAGES)]
    for k in bad_res:
        problems.append(f"{file}: resources.{k}: unknown stage (expected one of default, {', '.join(STAGES)})")
    if bad_res:
        picked["resources"] = {k: v for k, v in picked["resources"].items() if k not in bad_res}
    try:
        return Settings.model_validate(picked)
    except ValidationError as exc:
        problems.extend(pydantic_problems(exc, file, ""))
        return None


def _corpora(value: Any, file: str, problems: list[str], columns: dict[str, frozenset[str]]) -> list[CorpusSpec]:
    if not isinstance(value, list) or not value:
        problems.append(f"{file}: corpora: required non-empty list of corpora (got {value!r})")
        return []
    out: list[CorpusSpec] = []
    for i, item in enumerate(value):
        if not isinstance(item, dict):
            problems.append(f"{file}: corpora[{i}]: expected a mapping with name/root/emotions (got {item!r})")
            continue
        try:
            spec = CorpusSpec.model_validate(item)
        except ValidationError as exc:
            problems.extend(pydantic_problems(exc, file, f"corpora[{i}]"))
            continue
        if spec.root is not None and "${" not in spec.root and not Path(spec.root).is_dir():
            problems.append(f"{file}: corpora[{i}].root: folder does not exist (got {spec.root!r})")
        elif spec.manifest is not None:
            out += manifest_corpus(spec, f"{file}: corpora[{i}]", problems, columns)
        else:
            out.append(spec)
    names = [c.name for c in out]
    for dup in sorted({n for n in names if names.count(n) > 1}):
        problems.append(f"{file}: corpora: corpus {dup!r} listed twice")
    return out


def _features(value: Any, file: str, problems: Problems) -> list[FeatureSettings]:
    """Top-level `features:` (FeatureSettings fields); lists at non-sequence fields sweep."""
    if value is None:
        value = {}
    if not isinstance(value, dict):
        problems.append(f"{file}: features: expected a mapping of feature settings (got {value!r})")
        return []
    n = count_node(value, FeatureSettings)
    if n > MAX_JOBS:
        problems.append(f"{file}: features: the sweeps multiply out to {n:,} feature settings, over the limit of "
                        f"{MAX_JOBS:,}; split the grid")
        return []
    variants = expand_node(value, FeatureSettings, "features", problems)
    out = []
    for v in variants:
        try:
            out.append(FeatureSettings.model_validate(v))
        except ValidationError as exc:
            problems.extend(pydantic_problems(exc, file, "features"))
    return out
