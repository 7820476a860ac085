"""Human labels for planned jobs: what `submit --dry-run`, failure lists and `status` print beside a job id.

    features synthetic
    train    emodb paper seed 0 final w0.25 fold 2/5
    attack   emodb paper seed 0 fgsm eps=0.25 slice 1/2
    transfer emodb paper seed 0 final -> arch m1 seed 1 [fgsm, deepfool]

Built from the plan line's JSON (no spec validation, so labelling 10,000 jobs stays cheap). Attack parameters are
shown when they differ from ART's defaults in sercore.attack_params, in ART's names as the grid gives them.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Iterable, Mapping
from pathlib import PurePath
from typing import Any

from .planned import PlannedJob


def job_label(entry: PlannedJob, swept: frozenset[str] = frozenset()) -> str:
    """`<stage> <corpus> <protocol> seed <n> <what makes this job different>`; attack parameters in `swept`
    are shown even at their default value."""
    spec = entry.spec_dict()
    kind = str(spec.get("kind"))
    if kind == "attack":
        return f"{entry.stage} {_attack(spec, swept)}"
    body = {"features": _features, "tune": _tune, "train": _train, "transfer": _transfer}.get(kind, lambda s: "")(spec)
    return f"{entry.stage} {body}".strip()


def labels(entries: Iterable[PlannedJob], only: Collection[str] | None = None) -> dict[str, str]:
    """{job id: label} for jobs of one plan (or just the ids in `only`); an attack parameter that takes several
    values among them is shown on each of them, so two jobs of one sweep never share a label."""
    entries = list(entries)
    if only is not None and not only:
        return {}
    values: dict[str, set[str]] = {}
    for e in entries:
        spec = e.spec_dict()
        if spec.get("kind") == "attack":
            for k, v in (spec.get("params") or {}).items():
                values.setdefault(f"{spec.get('attack')}.{k}", set()).add(repr(v))
    swept = frozenset(k for k, v in values.items() if len(v) > 1)
    return {e.id: job_label(e, swept) for e in entries if only is None or e.id in only}


def _features(spec: Mapping[str, Any]) -> str:
    augment = (spec.get("features") or {}).get("augment", True)
    return _corpus(spec.get("corpus")) + ("" if augment else " no augmentation")


def _data(data: Mapping[str, Any] | None) -> str:
    data = data or {}
    text = f"{_corpus(data.get('corpus'))} {data.get('protocol', '?')} seed {data.get('seed', '?')}"
    if data.get("folds"):
        text += f" fold {int(data.get('fold', 0)) + 1}/{data['folds']}"
    return text


def _corpus(corpus: Mapping[str, Any] | None) -> str:
    return str((corpus or {}).get("name", "?"))


def _tune(spec: Mapping[str, Any]) -> str:
    return f"{_data(spec.get('data'))} stage {spec.get('stage', '?')}"


def _model(spec: Mapping[str, Any]) -> str:
    """The model part of a training job: arch and width, and the normalisation under the norm study."""
    model, data = spec.get("model") or {}, spec.get("data") or {}
    text = f"{model.get('arch', '?')} w{model.get('width', '?')}"
    if model.get("factory") or model.get("file"):  # a user's model (docs/bring-your-own.md): its name, not `final`
        text = str(model.get("factory") or PurePath(str(model["file"])).name)
        text += " (trained)" if model.get("trained") else ""
    if spec.get("study") == "norm":
        text += f" {data.get('normalization', '?')} standardize={'on' if data.get('standardize') else 'off'}"
    return text


def _train(spec: Mapping[str, Any]) -> str:
    return f"{_data(spec.get('data'))} {_model(spec)}"


def _attack(spec: Mapping[str, Any], swept: frozenset[str] = frozenset()) -> str:
    target = spec.get("target") or {}
    text = f"{_data(target.get('data'))} {spec.get('attack', '?')} {params_text(spec, swept)}"
    if (target.get("model") or {}).get("output") == "logits":  # late fields: absent at their defaults
        text += " on logits"
    if spec.get("check"):  # a failure check (runner.reduce.attack_checks), not a robustness number
        text += f" ({spec['check']} check)"
    if spec.get("domain") == "waveform":
        text += " waveform" + (f" SNR {spec['snr_db']:g} dB" if spec.get("snr_db") is not None else "")
    if int(spec.get("slices", 1)) > 1:
        text += f" slice {int(spec.get('slice', 0)) + 1}/{spec['slices']}"
    return text


def _transfer(spec: Mapping[str, Any]) -> str:
    attacks = spec.get("attacks") or [{}]
    source, target = attacks[0].get("target") or {}, spec.get("target") or {}
    names = ", ".join(dict.fromkeys(str(a.get("attack", "?")) for a in attacks))
    tdata = target.get("data") or {}
    to = f"{_model(target)} {tdata.get('protocol', '?')} seed {tdata.get('seed', '?')}"
    return f"{_data(source.get('data'))} {(source.get('model') or {}).get('arch', '?')} -> {to} [{names}]"


def params_text(spec: Mapping[str, Any], swept: frozenset[str] = frozenset()) -> str:
    """`eps=0.25 max_iter=10`: the parameters that differ from the attack's defaults or are in `swept`
    (`attack.name` keys; `*`: every parameter), `defaults` if none."""
    params, attack = spec.get("params") or {}, str(spec.get("attack"))
    base = _defaults(attack)
    every = "*" in swept
    shown = [f"{k}={v}" for k, v in params.items()
             if every or k not in base or base[k] != v or f"{attack}.{k}" in swept]
    return " ".join(shown) or "defaults"


@functools.cache
def _defaults(attack: str) -> dict[str, Any]:
    from sercore.attack_params import params_model

    try:
        return params_model(attack)().model_dump(mode="json")
    except Exception:  # an unknown attack or one without defaults: show every parameter
        return {}
