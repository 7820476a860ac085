"""`python -m sercore describe CORPUS [ROOT]`: prints what `sercore.describe.describe` finds in a corpus copy."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .. import describe as describe_mod
from ..describe import describe
from ..vocab import CORPORA


def _print_text(d: dict[str, Any]) -> None:
    print(f"{d['corpus']} at {d['root']}")
    print(f"  files: {d['files']} recognised, {len(d['rejected'])} rejected; "
          f"{d['kept_files']} kept ({', '.join(d['kept_emotions'])})")
    print(f"  speakers ({len(d['speakers'])}): {' '.join(d['speakers'])}")
    print(f"  by gender: {d['by_gender']}")
    print(f"  by emotion: {d['by_emotion']}")
    dur = d["duration_s"]
    print(f"  duration: {dur['min']}-{dur['max']} s per file, {dur['total']} s in all")
    for emotion, genders in d["kept_by_emotion_gender"].items():
        print(f"    kept {emotion:<10} {genders}")
    if "segments" in d:
        print(f"  segments: {d['segments']}, array shape {tuple(d['shape'])} ({d['store']})")
        print(f"  segments by version: {d['segments_by_version']}")
    for r in d["rejected"]:
        print(f"  rejected {r['path']}: {r['reason']}")
    if d.get("splits"):
        import pandas as pd

        print("  split sizes (recordings / segments / original segments / speakers per side):")
        print(pd.DataFrame(d["splits"]).fillna("").to_string(index=False))


def _run(args: argparse.Namespace) -> int:
    d = describe(args.corpus, args.root, segments=args.segments or bool(args.splits), cache_dir=args.cache,
                 workers=args.workers, progress=not args.json, splits=args.splits, seed=args.seed)
    if args.json:
        print(json.dumps(d, sort_keys=True))
    else:
        _print_text(d)
    return 0


def register_cli(subparsers: Any) -> None:
    p = subparsers.add_parser("describe", help="summarise a corpus copy (files, speakers, rejects, segments)",
                              description=(describe_mod.__doc__ or "").splitlines()[0])
    p.add_argument("corpus", choices=CORPORA, help="corpus layout to read")
    p.add_argument("root", nargs="?", default=None, help="corpus folder (optional for synthetic)")
    p.add_argument("--segments", action="store_true", help="build or reuse the feature store; count segments")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--splits", type=int, default=None, metavar="K",
                   help="also the split sizes of every protocol, k-fold ones with K folds (implies --segments)")
    p.add_argument("--seed", type=int, default=0, help="split seed for --splits")
    p.add_argument("--cache", type=Path, default=None, help="cache folder (default $SERTACK_CACHE or ~/.cache/sertack)")
    p.add_argument("--workers", type=int, default=None, help="feature processes (default: all cores)")
    p.set_defaults(func=_run)
