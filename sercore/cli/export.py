"""`python -m sercore export-manifest CORPUS ROOT -o FILE`: a built-in corpus copy as a manifest to start from."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..describe import export
from ..vocab import CORPORA


def _run(args: argparse.Namespace) -> int:
    n = export(args.corpus, args.root, args.output, cache_dir=args.cache)
    print(f"{args.output}: {n} files of {args.corpus} (columns path, emotion, speaker, gender, language)")
    return 0


def register_cli(subparsers: Any) -> None:
    p = subparsers.add_parser("export-manifest", help="write a built-in corpus copy's manifest (CSV or JSONL)",
                              description=(__doc__ or "").splitlines()[0])
    p.add_argument("corpus", choices=CORPORA, help="built-in corpus layout to read")
    p.add_argument("root", nargs="?", default=None, help="corpus folder (optional for synthetic)")
    p.add_argument("-o", "--output", type=Path, required=True, help="manifest to write (.csv, or .jsonl)")
    p.add_argument("--cache", type=Path, default=None, help="cache folder (default $SERTACK_CACHE or ~/.cache/sertack)")
    p.set_defaults(func=_run)
