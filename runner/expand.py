"""Stage blocks of a grid -> job specs: cartesian sweeps, per-corpus overrides, upstream links.

Kept apart from `grid.py` (file handling, top-level schema) so each stays readable. Problems are appended to a
shared list as `FILE: key.path: message` lines; nothing here raises for a user mistake.
"""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable
from typing import Any, get_args, get_origin

from pydantic import BaseModel, ValidationError

from sercore.attack_params import PARAMS, AnyParams, parse_params
from sercore.errors import ConfigError
from sercore.specs import (
    TRANSFERABLE_NORMALIZATIONS,
    AttackJob,
    CorpusSpec,
    DataSpec,
    FeatureSettings,
    FeaturesJob,
    ModelSpec,
    Spec,
    TrainJob,
    TrainSettings,
    TransferJob,
    TuneJob,
)
from sercore.strict import pydantic_problems

from .paths import STAGES
from .planned import PlannedJob as Job  # expansion's name for the one planned-job type

_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
MAX_NAME = 100  # names become file and Slurm job names (255-byte file names, with room for suffixes)
DATA_KEYS = ("normalization", "standardize", "speaker_independent", "split_seed", "folds", "val_augmented")
STUDY = {"norm_study": "norm", "arch_study": "arch", "train": "final"}
ATTACK_OPTIONS = ("labels", "estimator", "limit", "chunk_size", "batch_size", "examples", "resynth")
SPECTROGRAM_ONLY = ("resynth",)  # attack options without meaning for `domain: waveform` jobs
FREE = "free"  # attack parameters: any key, lists sweep
SEQ = "seq"  # a field whose value is a list: a list of lists sweeps
SCALAR = "scalar"
# `stages.attack.checks: {unbounded: true}`: per attacked model one PGD L-inf job whose budget no standardised log-Mel
# range reaches (eps 100 against clip ranges of about 10 to 30 units: only the clip box bounds it; 20 steps of 0.5
# can move a cell 10 units), on the same samples as the other attacks (runner.reduce.attack_checks reads it). A
# mapping instead of `true` overrides these parameters (PGD's ART names).
UNBOUNDED_ATTACK = "pgd"
UNBOUNDED_PARAMS: dict[str, Any] = {"norm": "inf", "eps": 100.0, "eps_step": 0.5, "max_iter": 20}
CHECK_ONLY_DEFAULTS = {"examples": 0, "resynth": 0}  # a check job saves no examples and re-synthesises nothing

Schema = dict[str, Any] | str | type


def train_spec(job: Job) -> TrainJob:
    """A model stage's job spec, typed (expansion built it, so anything else is a bug here)."""
    if not isinstance(job.spec, TrainJob):
        raise TypeError(f"{job.stage} job {job.id}: expected a TrainJob spec, got {type(job.spec).__name__}")
    return job.spec


def attack_spec(job: Job) -> AttackJob:
    """An attack stage's job spec, typed."""
    if not isinstance(job.spec, AttackJob):
        raise TypeError(f"{job.stage} job {job.id}: expected an AttackJob spec, got {type(job.spec).__name__}")
    return job.spec


def check_name(value: Any) -> str:
    """Names that become path components: no `/`, no `..`, not absolute, not empty, at most MAX_NAME long."""
    if not isinstance(value, str) or not _SAFE_NAME.match(value) or ".." in value:
        raise ValueError(f"must be a plain name: letters, digits, '.', '_', '-'; no '/' or '..' (got {value!r})")
    if len(value) > MAX_NAME:
        raise ValueError(f"must be at most {MAX_NAME} characters long (got {len(value)} characters: {value!r})")
    return value


# ---------------------------------------------------------------- generic sweep expansion


def schema_of(cls: type[BaseModel]) -> dict[str, Schema]:
    """Per field: the nested model class, SEQ for list/tuple/dict-valued fields, else SCALAR."""
    out: dict[str, Schema] = {}
    for name, info in cls.model_fields.items():
        cands = [info.annotation, *get_args(info.annotation)]
        model = next((a for a in cands if isinstance(a, type) and issubclass(a, BaseModel)), None)
        if model is not None:
            out[name] = model
        elif any(get_origin(a) in (tuple, list, dict) or a in (tuple, list, dict) for a in cands):
            out[name] = SEQ
        else:
            out[name] = SCALAR
    return out


def expand_node(node: dict[str, Any], schema: Schema, path: str, file: str, problems: list[str]) -> list[dict]:
    """All concrete variants of a mapping whose leaves may be sweeps."""
    if isinstance(schema, type):
        schema = schema_of(schema)
    choices: list[list[tuple[str, Any]]] = []
    for key, value in node.items():
        sub = FREE if schema == FREE else schema.get(key)  # type: ignore[union-attr]
        if sub is None:
            valid = ", ".join(sorted(schema))
            problems.append(f"{file}: {path}.{key}: unknown key (expected one of {valid})")
            continue
        alternatives = _expand_value(value, sub, f"{path}.{key}", file, problems)
        choices.append([(key, v) for v in alternatives])
    return [dict(combo) for combo in itertools.product(*choices)]


def _expand_value(value: Any, sub: Schema, path: str, file: str, problems: list[str]) -> list[Any]:
    if sub == SEQ:
        if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
            return value
        return [value]
    nested = isinstance(sub, (dict, type)) or (sub == FREE and isinstance(value, dict))
    if nested and (isinstance(value, dict) or (isinstance(value, list) and value and isinstance(value[0], dict))):
        out: list[Any] = []
        for i, alt in enumerate(value if isinstance(value, list) else [value]):
            where = f"{path}[{i}]" if isinstance(value, list) else path
            if not isinstance(alt, dict):
                problems.append(f"{file}: {where}: expected a mapping (got {alt!r})")
                continue
            out.extend(expand_node(alt, FREE if sub == FREE else sub, where, file, problems))
        return out
    if isinstance(value, list):
        if not value:
            problems.append(f"{file}: {path}: empty list: a sweep needs at least one value")
        return value
    return [value]


def deep_merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for k, v in extra.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


class Builder:
    """Builds each distinct spec once (pydantic validation is the expensive part of a 10,000-job grid)."""

    def __init__(self, file: str, problems: list[str]) -> None:
        self.file, self.problems = file, problems
        self.memo: dict[tuple, Any] = {}

    def __call__(self, cls: type[Spec], where: str, **kwargs: Any) -> Any:
        key = (cls.__name__, where, _key(kwargs))
        if key not in self.memo:
            try:
                self.memo[key] = cls(**kwargs)
            except ValidationError as exc:
                self.problems.extend(pydantic_problems(exc, self.file, where))
                self.memo[key] = None
        return self.memo[key]


def _key(kwargs: dict[str, Any]) -> str:
    return json.dumps(kwargs, sort_keys=True, default=lambda o: f"{type(o).__name__}@{id(o)}")


# ---------------------------------------------------------------- counting before expanding


def count_node(node: dict[str, Any], schema: Schema) -> int:
    """How many variants `expand_node` would return, without building them (a product of sweep lengths)."""
    if isinstance(schema, type):
        schema = schema_of(schema)
    total = 1
    for key, value in node.items():
        sub = FREE if schema == FREE else schema.get(key)  # type: ignore[union-attr]
        if sub is not None:
            total *= _count_value(value, sub)
    return total


def _count_value(value: Any, sub: Schema) -> int:
    if sub == SEQ:
        seq = isinstance(value, list) and value and all(isinstance(v, list) for v in value)
        return len(value) if seq else 1
    nested = isinstance(sub, (dict, type)) or (sub == FREE and isinstance(value, dict))
    if nested and (isinstance(value, dict) or (isinstance(value, list) and value and isinstance(value[0], dict))):
        alts = value if isinstance(value, list) else [value]
        return sum(count_node(a, FREE if sub == FREE else sub) for a in alts if isinstance(a, dict))
    return len(value) if isinstance(value, list) else 1


def count_jobs(stages: dict[str, Any], corpora: list[CorpusSpec], n_features: int, protocols: tuple[str, ...],
               seeds: tuple[int, ...]) -> dict[str, int]:
    """Jobs per stage that expansion would build before identical ones merge (an upper bound; transfer is not
    counted: its jobs pair models already counted). Malformed blocks count 0: expansion reports them."""
    out = {"features": len(corpora) * n_features} if "features" in stages else {}
    per_protocol: dict[str, int] = {}
    for stage in ("tune", "norm_study", "arch_study", "train"):
        block = {} if stage in stages and stages[stage] is None else stages.get(stage)
        if isinstance(block, dict):
            counted = _count_model_stage(stage, block, corpora, protocols)
            out[stage] = sum(counted.values()) * n_features * len(seeds)
            if stage == "train":
                per_protocol = {p: n * n_features * len(seeds) for p, n in counted.items()}
    if isinstance(stages.get("attack"), dict) and per_protocol:
        out["attack"] = _count_attack(stages["attack"], per_protocol)
    return out


def _count_model_stage(stage: str, block: dict[str, Any], corpora: list[CorpusSpec],
                       protocols: tuple[str, ...]) -> dict[str, int]:
    """{protocol: variants over every corpus} of one model stage (times features and seeds later)."""
    block = dict(block)
    per_corpus = block.pop("per_corpus", None)
    chosen = block.pop("protocols", None)
    chosen = [p for p in (chosen if isinstance(chosen, list) else [chosen]) if p in protocols] or list(protocols)
    out = dict.fromkeys(chosen, 0)
    for corpus in corpora:
        extra = per_corpus.get(corpus.name) if isinstance(per_corpus, dict) else None
        merged = deep_merge(block, extra) if isinstance(extra, dict) else block
        variants = count_node(merged, _block_schema(stage))
        folds = merged.get("folds")
        most = max([f for f in (folds if isinstance(folds, list) else [folds])
                    if isinstance(f, int) and not isinstance(f, bool)] + [1])
        for p in chosen:
            out[p] += variants * (1 if p in ("paper", "speaker") else most)
    return out


def _count_attack(block: dict[str, Any], per_protocol: dict[str, int]) -> int:
    chosen = block.get("protocols")
    chosen = [p for p in (chosen if isinstance(chosen, list) else [chosen]) if p in per_protocol] or per_protocol
    targets = sum(per_protocol[p] for p in chosen)
    options = count_node({k: v for k, v in block.items() if k in ATTACK_OPTIONS}, {k: SCALAR for k in ATTACK_OPTIONS})
    slices = block.get("slices", 1)
    slices = slices if isinstance(slices, dict) else {"default": slices}
    found = block.get("waveform")
    waveform: dict[str, Any] = found if isinstance(found, dict) else {}
    budgets = waveform.get("snr_db")
    per_target = _count_attacks(block.get("attacks"), slices) + \
        _count_attacks(waveform.get("attacks"), slices) * (len(budgets) if isinstance(budgets, list) else 1)
    checks = block.get("checks")
    per_target += 1 if isinstance(checks, dict) and checks.get("unbounded") not in (None, False) else 0
    return targets * options * per_target


def _count_attacks(attacks: Any, slices: dict) -> int:
    """Jobs per target and option set of one `attacks:` mapping (parameter sets x slices)."""
    per_target = 0
    for name, params in (attacks.items() if isinstance(attacks, dict) else ()):
        n = slices.get(name, slices.get("default", 1))
        n = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1
        sets = _count_value(params, FREE) if isinstance(params, (dict, list)) else 1
        per_target += sets * n
    return per_target


# ---------------------------------------------------------------- stages


def _block_schema(stage: str) -> dict[str, Schema]:
    data = {k: SCALAR for k in DATA_KEYS}
    if stage == "tune":
        return {**{k: v for k, v in schema_of(TuneJob).items() if k not in ("kind", "data")}, **data}
    if stage in STUDY:
        return {"model": ModelSpec, "train": TrainSettings, **data}
    return {}


def expand_stage_jobs(
    stages: dict[str, Any],
    corpora: list[CorpusSpec],
    features: list[FeatureSettings],
    protocols: tuple[str, ...],
    seeds: tuple[int, ...],
    file: str,
    problems: list[str],
) -> dict[str, list[Job]]:
    """Jobs per enabled stage, in dependency order, deduplicated by id."""
    for key in stages:
        if key not in STAGES:
            problems.append(f"{file}: stages.{key}: unknown stage (expected one of {', '.join(STAGES)})")
    build = Builder(file, problems)
    jobs: dict[str, list[Job]] = {}
    feat_ids: dict[tuple[str, int], str] = {}
    if "features" in stages:
        block = stages["features"]
        if block not in (None, {}, True):
            problems.append(f"{file}: stages.features: takes no settings "
                            "(feature settings live in top-level `features`)")
        found = []
        for corpus, (fi, fs) in itertools.product(corpora, enumerate(features)):
            job = FeaturesJob(corpus=corpus, features=fs)
            feat_ids[(corpus.name, fi)] = job.job_id
            found.append(Job("features", job))
        jobs["features"] = found
    for stage in ("tune", "norm_study", "arch_study", "train"):
        if stage in stages:
            jobs[stage] = _model_stage(stage, stages[stage], corpora, features, protocols, seeds, feat_ids, build)
    if "attack" in stages:
        if "train" not in stages:
            problems.append(f"{file}: stages.attack: needs stages.train (attacks target the final training jobs)")
        else:
            jobs["attack"] = _attack_stage(stages["attack"], jobs["train"], build)
    if "transfer" in stages:
        if "attack" not in jobs:
            problems.append(f"{file}: stages.transfer: needs stages.attack (it replays the attacks' adversarial "
                            "inputs)")
        else:
            jobs["transfer"] = _transfer_stage(stages["transfer"], jobs, build)
    return {s: list({j.id: j for j in jobs[s]}.values()) for s in STAGES if s in jobs}


def _model_stage(
    stage: str,
    block: Any,
    corpora: list[CorpusSpec],
    features: list[FeatureSettings],
    protocols: tuple[str, ...],
    seeds: tuple[int, ...],
    feat_ids: dict[tuple[str, int], str],
    build: Builder,
) -> list[Job]:
    file, problems, path = build.file, build.problems, f"stages.{stage}"
    block = {} if block is None else block
    if not isinstance(block, dict):
        problems.append(f"{file}: {path}: expected a mapping of settings (got {block!r})")
        return []
    block = dict(block)
    per_corpus = block.pop("per_corpus", None) or {}
    protocols = _stage_protocols(block.pop("protocols", None), protocols, f"{path}.protocols", file, problems)
    names = [c.name for c in corpora]
    if not isinstance(per_corpus, dict):
        problems.append(f"{file}: {path}.per_corpus: expected a mapping corpus -> settings (got {per_corpus!r})")
        per_corpus = {}
    for name in per_corpus:
        if name not in names:
            problems.append(f"{file}: {path}.per_corpus.{name}: not a corpus of this grid "
                            f"(expected one of {', '.join(names)})")
    schema = _block_schema(stage)
    out: list[Job] = []
    for corpus in corpora:
        extra = per_corpus.get(corpus.name) or {}
        merged = deep_merge(block, extra) if isinstance(extra, dict) else block
        for variant in expand_node(merged, schema, path, file, problems):
            data_kw = {k: variant.pop(k) for k in DATA_KEYS if k in variant}
            model = build(ModelSpec, f"{path}.model", **(variant.pop("model", None) or {}))
            train = build(TrainSettings, f"{path}.train", **(variant.pop("train", None) or {}))
            combos = ((fi, fs, protocol, seed, kw)
                      for (fi, fs), protocol, seed in itertools.product(enumerate(features), protocols, seeds)
                      for kw in fold_variants(protocol, data_kw))
            for fi, fs, protocol, seed, fold_kw in combos:
                data = build(DataSpec, path, corpus=corpus, features=fs, protocol=protocol, seed=seed, **fold_kw)
                if data is None or model is None:
                    continue
                if stage == "tune":
                    spec = build(TuneJob, path, data=data, model=model, **variant)
                elif train is not None:
                    spec = build(TrainJob, path, study=STUDY[stage], data=data, model=model, train=train)
                else:
                    spec = None
                if spec is not None:
                    up = feat_ids.get((corpus.name, fi))
                    out.append(Job(stage, spec, up, "features" if up else None))
    return out


def fold_variants(protocol: str, data_kw: dict[str, Any]) -> list[dict[str, Any]]:
    """`folds: K` expands to K jobs (fold 0..K-1) under `clean`; the paper protocol has no folds (its single
    segment-level split is the paper's) and `speaker` has its own gender-balanced speaker hold-out, so the key is
    dropped there."""
    folds = data_kw.get("folds")
    if protocol in ("paper", "speaker"):
        return [{k: v for k, v in data_kw.items() if k not in ("folds", "val_augmented")}]
    if not isinstance(folds, int) or isinstance(folds, bool) or folds < 2:
        return [data_kw]  # None, or a bad value DataSpec reports with its key path
    return [{**data_kw, "fold": f} for f in range(folds)]


def _stage_protocols(value: Any, default: tuple[str, ...], path: str, file: str,
                     problems: list[str]) -> tuple[str, ...]:
    """A stage may run a subset of the grid's protocols (`protocols: [paper]`), e.g. the studies of a demo."""
    if value is None:
        return default
    items = value if isinstance(value, list) else [value]
    bad = [p for p in items if p not in default]
    if bad or not items:
        problems.append(f"{file}: {path}: must be a non-empty subset of the grid's protocols (got {value!r}; "
                        f"expected some of {', '.join(default)})")
        return default
    return tuple(items)


def _attack_stage(block: Any, targets: list[Job], build: Builder) -> list[Job]:
    file, problems, path = build.file, build.problems, "stages.attack"
    if not isinstance(block, dict):
        problems.append(f"{file}: {path}: expected a mapping with `attacks:` (got {block!r})")
        return []
    block = dict(block)
    attacks = block.pop("attacks", None)
    waveform = block.pop("waveform", None)
    slices = block.pop("slices", 1)
    checks = block.pop("checks", None)
    known = tuple(dict.fromkeys(train_spec(t).data.protocol for t in targets))
    chosen = _stage_protocols(block.pop("protocols", None), known, f"{path}.protocols", file, problems)
    targets = [t for t in targets if train_spec(t).data.protocol in chosen]
    if waveform is None and (not isinstance(attacks, dict) or not attacks):
        problems.append(f"{file}: {path}.attacks: required mapping attack name -> parameters (got {attacks!r})")
        return []
    options = expand_node(block, {k: SCALAR for k in ATTACK_OPTIONS}, path, file, problems)
    if not isinstance(slices, dict):
        slices = {"default": slices}
    names = list(attacks or {}) + list(waveform.get("attacks") or {} if isinstance(waveform, dict) else {})
    if not _slices_ok(slices, names, file, problems):
        return []
    out = _attack_jobs(attacks or {}, {}, slices, targets, options, build, path)
    for extra in _waveform_variants(waveform, file, problems):
        out += _attack_jobs(waveform["attacks"], extra, slices, targets, options, build, f"{path}.waveform")
    return out + _check_jobs(checks, targets, options, build)


def _unbounded_params(value: Any, where: str, file: str, problems: list[str]) -> AnyParams | None:
    """`unbounded: true` -> UNBOUNDED_PARAMS; a mapping overrides them; `false`/absent -> None (no check)."""
    if value is None or value is False:
        return None
    if value is not True and not isinstance(value, dict):
        problems.append(f"{file}: {where}: expected true, false or a mapping of PGD parameters (got {value!r})")
        return None
    return _param_parser()(UNBOUNDED_ATTACK, {**UNBOUNDED_PARAMS, **(value if isinstance(value, dict) else {})},
                           where, file, problems)


def _check_jobs(block: Any, targets: list[Job], options: list[dict], build: Builder) -> list[Job]:
    """`stages.attack.checks`: one unbounded-attack job per (model, option set), on the same samples as the other
    attacks (`limit`, labels, estimator); no slices, no examples."""
    file, problems, path = build.file, build.problems, "stages.attack.checks"
    if block is None:
        return []
    if not isinstance(block, dict):
        problems.append(f"{file}: {path}: expected a mapping such as {{unbounded: true}} (got {block!r})")
        return []
    for key in block:
        if key != "unbounded":
            problems.append(f"{file}: {path}.{key}: unknown check (expected unbounded)")
    params = _unbounded_params(block.get("unbounded"), f"{path}.unbounded", file, problems)
    if params is None:
        return []
    opts = list({json.dumps(o, sort_keys=True): o for o in ({**o, **CHECK_ONLY_DEFAULTS} for o in options)}.values())
    out = []
    for target, o in itertools.product(targets, opts):
        spec = build(AttackJob, path, target=target.spec, attack=UNBOUNDED_ATTACK, params=params,
                     check="unbounded", **o)
        if spec is not None:
            out.append(Job("attack", spec, target.id, "train"))
    return out


def _slices_ok(slices: dict, names: list[str], file: str, problems: list[str]) -> bool:
    ok = True
    for key, n in slices.items():
        if key != "default" and key not in names:
            problems.append(f"{file}: stages.attack.slices.{key}: not an attack of this grid "
                            f"(expected default or one of {', '.join(names)})")
        if not isinstance(n, int) or isinstance(n, bool) or n < 1:
            problems.append(f"{file}: stages.attack.slices.{key}: must be a whole number >= 1 (got {n!r})")
            ok = False
    return ok


def _targets_for(name: str, targets: list[Job], where: str, file: str, problems: list[str]) -> list[Job]:
    """The targets an attack can run on: one that needs logits (AutoAttack's APGD-DLR) skips softmax models, and
    is a problem only when the grid has no logits model at all (`model.output` sweeps both: each gets its own)."""
    if not PARAMS.get(name) or not PARAMS[name].needs_logits:
        return targets
    fit = [t for t in targets if train_spec(t).model.output == "logits"]
    if targets and not fit:
        problems.append(f"{file}: {where}: {name} needs a model with logits outputs (ART refuses a softmax head); "
                        "set stages.train.model.output: logits (or sweep [softmax, logits])")
    return fit


def _waveform_variants(block: Any, file: str, problems: list[str]) -> list[dict[str, Any]]:
    """`stages.attack.waveform: {snr_db: [..], attacks: {..}}` -> the spec fields of each budget."""
    if block is None:
        return []
    where = "stages.attack.waveform"
    if not isinstance(block, dict) or not isinstance(block.get("attacks"), dict) or not block["attacks"]:
        problems.append(f"{file}: {where}: expected a mapping with `attacks:` and optional `snr_db:` (got {block!r})")
        return []
    for key in block:
        if key not in ("attacks", "snr_db"):
            problems.append(f"{file}: {where}.{key}: unknown key (expected one of attacks, snr_db)")
    budgets = block.get("snr_db")
    budgets = budgets if isinstance(budgets, list) else [budgets]
    return [{"domain": "waveform", "snr_db": b} for b in budgets]


def _attack_jobs(attacks: dict, extra: dict[str, Any], slices: dict, targets: list[Job], options: list[dict],
                 build: Builder, path: str) -> list[Job]:
    """Every (attack, parameter set, target, option set, slice) of one `attacks:` mapping; `extra`: spec fields."""
    file, problems = build.file, build.problems
    validate = _param_parser()
    out: list[Job] = []
    for name, params in attacks.items():
        where = f"{path}.attacks.{name}"
        try:
            check_name(name)
        except ValueError as exc:
            problems.append(f"{file}: {where}: attack name {exc}")
            continue
        params = {} if params is None else params
        variants = _expand_value(params, FREE, where, file, problems) if isinstance(params, (dict, list)) else None
        if variants is None:
            problems.append(f"{file}: {where}: expected a mapping of ART parameters (got {params!r})")
            continue
        checked = [p for p in (validate(name, v, where, file, problems) for v in variants) if p is not None]
        n = slices.get(name, slices.get("default", 1))
        _check_slices(name, n, options, file, problems)
        if extra.get("domain") == "waveform":  # the spectrogram-only options (resynth) do not apply to sounds
            options = list({json.dumps(o, sort_keys=True): o for o in
                            ({k: v for k, v in opt.items() if k not in SPECTROGRAM_ONLY} for opt in options)}.values())
        for target, opts in itertools.product(_targets_for(name, targets, where, file, problems), options):
            if build(AttackJob, path, target=target.spec, attack=name, slices=n, **opts, **extra) is None:
                continue  # the options themselves are invalid: reported once, no need to try every job
            for param, i in itertools.product(checked, range(n)):
                spec = AttackJob(target=target.spec, attack=name, params=param, slices=n, slice=i, **opts, **extra)
                out.append(Job("attack", spec, target.id, "train"))
    return out


TRANSFER_TARGETS = ("train", "arch_study", "norm_study")


def _transfer_stage(block: Any, jobs: dict[str, list[Job]], build: Builder) -> list[Job]:
    """One TransferJob per (source model, target model of the same corpus/features/normalisation): it replays
    every selected attack job of the source on the target. Targets: the final models (other seeds and
    protocols, and the source itself: the replay check) and the study models of the stages named."""
    file, problems, path = build.file, build.problems, "stages.transfer"
    block = {} if block in (None, True) else block
    if not isinstance(block, dict):
        problems.append(f"{file}: {path}: expected a mapping with optional `attacks` and `targets` (got {block!r})")
        return []
    for key in block:
        if key not in ("attacks", "targets"):
            problems.append(f"{file}: {path}.{key}: unknown key (expected one of attacks, targets)")
    names = list(dict.fromkeys(attack_spec(j).attack for j in jobs["attack"] if attack_spec(j).check is None))
    wanted = block.get("attacks") or names
    targets = block.get("targets") or [t for t in TRANSFER_TARGETS if t in jobs]
    for key, got, valid in (("attacks", wanted, names), ("targets", targets, TRANSFER_TARGETS)):
        for item in got if isinstance(got, list) else [got]:
            if item not in valid:
                problems.append(f"{file}: {path}.{key}: {item!r} is not one of this grid's {key} (expected one of "
                                f"{', '.join(valid)})")
    by_source: dict[str, list[Job]] = {}
    for j in jobs["attack"]:  # waveform examples are sounds: no spectrogram model can replay them; checks: no data
        a = attack_spec(j)
        if a.attack in wanted and a.domain == "spectrogram" and a.check is None:
            by_source.setdefault(j.upstream or "", []).append(j)
    candidates = [j for stage in TRANSFER_TARGETS if stage in targets for j in jobs.get(stage, [])]
    out: list[Job] = []
    for attacks in by_source.values():
        src = attack_spec(attacks[0]).target.data
        for target in candidates:
            tgt = train_spec(target).data
            if (tgt.corpus, tgt.features, tgt.normalization) != (src.corpus, src.features, src.normalization) or \
                    src.normalization not in TRANSFERABLE_NORMALIZATIONS:
                continue
            spec = build(TransferJob, path, attacks=tuple(a.spec for a in attacks), target=target.spec)
            if spec is not None:
                out.append(Job("transfer", spec, attacks[0].id, "attack"))
    return out


def _check_slices(name: str, n: int, options: list[dict], file: str, problems: list[str]) -> None:
    """Slices split an attack's chunks: with a `limit`, more slices than chunks leaves some slices empty."""
    chunk_default = AttackJob.model_fields["chunk_size"].default
    for opts in options:
        limit, chunk = opts.get("limit"), opts.get("chunk_size", chunk_default)
        if isinstance(limit, int) and isinstance(chunk, int) and limit > 0 and chunk > 0:
            chunks = -(-limit // chunk)
            if n > chunks:
                problems.append(
                    f"{file}: stages.attack.slices.{name}: {n} slices but limit {limit} / chunk_size {chunk} "
                    f"makes only {chunks} chunk(s) (got {n}; expected at most {chunks}, or a smaller chunk_size)"
                )


def _param_parser() -> Callable[[str, dict, str, str, list[str]], AnyParams | None]:
    """sercore.attack_params.parse_params, once per distinct parameter set; problems go to the shared list.

    The parsed model goes into every AttackJob of that set as it is (pydantic does not validate a model twice).
    """
    memo: dict[str, AnyParams | None] = {}

    def check(name: str, params: dict, where: str, file: str, problems: list[str]) -> AnyParams | None:
        key = name + _key(params)
        if key not in memo:
            try:
                memo[key] = parse_params(name, params)
            except ConfigError as exc:
                msg = str(exc)
                sep = "." if re.match(r"^[A-Za-z_][\w.\[\]]*: ", msg) else ": "
                problems.append(f"{file}: {where}{sep}{msg}")
                memo[key] = None
        return memo[key]

    return check
