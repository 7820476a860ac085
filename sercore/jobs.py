"""Job dispatch table: kind -> `run_<kind>(spec, workdir, env) -> pandas.DataFrame` (the job's shard rows).

Imports are lazy so the runner can plan and validate grids without loading TensorFlow.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd

from .env import JobEnv
from .specs import job_from_dict

_ENTRY = {
    "features": ("sercore.features_job", "run_features"),
    "train": ("sercore.train", "run_train"),
    "tune": ("sercore.tune", "run_tune"),
    "attack": ("sercore.attack_job", "run_attack"),
    "transfer": ("sercore.transfer_job", "run_transfer"),
}


def entry_point(kind: str) -> Callable[..., pd.DataFrame]:
    module, name = _ENTRY[kind]
    return getattr(importlib.import_module(module), name)


def run_job(spec: Any, workdir: Path, env: JobEnv) -> pd.DataFrame:
    """Run one job; `spec` is a spec model or its dict form. Returns the rows of its shard."""
    if isinstance(spec, dict):
        spec = job_from_dict(spec)
    workdir.mkdir(parents=True, exist_ok=True)
    if getattr(spec, "domain", None) == "waveform":  # an attack on the sound (sercore.waveform_attack)
        return importlib.import_module("sercore.waveform_attack").run_waveform_attack(spec, workdir, env)
    return entry_point(spec.kind)(spec, workdir, env)
