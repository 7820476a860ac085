"""Where a job finds what it did not compute itself, and process-wide seeding."""

from __future__ import annotations

import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


def default_cache_dir() -> Path:
    """Feature stores and the synthetic corpus: $SERTACK_CACHE, else ~/.cache/sertack."""
    env = os.environ.get("SERTACK_CACHE")
    return Path(env) if env else Path.home() / ".cache" / "sertack"


@dataclass(frozen=True)
class JobEnv:
    """What the runner hands a job besides its spec and its own work folder."""

    cache_dir: Path
    # Artefact folder of the job this one consumes (an attack job's training job), else None.
    upstream: Path | None = None
    # Further named input folders (a transfer job: "source" = the source model's train folder, and one per
    # attack job id = that attack job's folder).
    inputs: Mapping[str, Path] = field(default_factory=dict, hash=False, compare=False)

    @classmethod
    def default(cls, upstream: Path | None = None) -> JobEnv:
        return cls(cache_dir=default_cache_dir(), upstream=upstream)


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Python, NumPy and TF seeds from one job seed; optionally TF op determinism."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    import tensorflow as tf

    tf.keras.utils.set_random_seed(seed)
    if deterministic:
        tf.config.experimental.enable_op_determinism()
