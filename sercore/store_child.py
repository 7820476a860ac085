"""The parent side of a feature-store build in a fresh interpreter (the child: sercore/cli/store_build.py)."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

from .errors import DataError
from .specs import CorpusSpec, FeatureSettings


def build_in_subprocess(corpus: CorpusSpec, features: FeatureSettings, cache_dir: Path, workers: int,
                        progress: bool) -> None:
    """Build in a fresh interpreter: forking a process with TensorFlow loaded can deadlock, and spawning
    workers from it re-runs the caller's __main__ (fatal for scripts without a main guard).

    The child reports through its exit status and an error file (sercore/cli/store_build.py)."""
    cache_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".store-build-", dir=cache_dir) as tmp:
        error_file = Path(tmp) / "error.txt"
        cmd = [sys.executable, "-m", "sercore.cli.store_build", corpus.canonical_json(), features.canonical_json(),
               str(cache_dir), "--workers", str(workers), "--error-file", str(error_file)]
        cmd += [] if progress else ["--quiet"]
        proc = subprocess.run(cmd, check=False)
        if proc.returncode == 0:
            return
        message = error_file.read_text().strip() if error_file.is_file() else ""
    raise DataError(message or f"{corpus.name}: feature store build failed (exit {proc.returncode}) in a child "
                               f"process; its stderr above says why: {' '.join(cmd[:3])} ...")
