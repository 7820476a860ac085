"""`python -m sercore.cli.store_build CORPUS_JSON FEATURES_JSON CACHE_DIR --error-file F`: the child side of a
parallel feature-store build (`sercore.store.open_store` starts it from a process with TensorFlow loaded).

It reports through its exit status (0 built, 2 a user-facing error, anything else a crash) and, on an error,
the error's one-line message in the error file; stdout stays free for progress bars.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from ..errors import SertackError
from ..specs import CorpusSpec, FeatureSettings
from ..store import open_store
from . import exit_now


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m sercore.cli.store_build")
    ap.add_argument("corpus")
    ap.add_argument("features")
    ap.add_argument("cache_dir", type=Path)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--quiet", action="store_true")
    ap.add_argument("--error-file", type=Path, required=True)
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    try:
        open_store(CorpusSpec.model_validate_json(args.corpus), FeatureSettings.model_validate_json(args.features),
                   args.cache_dir, workers=args.workers, progress=not args.quiet)
    except SertackError as exc:
        args.error_file.write_text(str(exc) + "\n")
        return 2
    return 0


if __name__ == "__main__":
    exit_now(main())
