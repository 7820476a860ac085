"""The `features` job: build (or reuse) a corpus's feature store and report every file, kept or not."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from .env import JobEnv
from .specs import FeaturesJob
from .store import FILE_TABLE_COLUMNS, open_store


def run_features(job: FeaturesJob, workdir: Path, env: JobEnv) -> pd.DataFrame:
    """Job entry point: build (or reuse) the store; one row per file, kept or not, with its reason."""
    store = open_store(job.corpus, job.features, env.cache_dir, progress=False)
    return store.files[FILE_TABLE_COLUMNS].copy()
