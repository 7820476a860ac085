"""`python -m sercore describe CORPUS [ROOT]`: prints what `sercore.describe.describe` finds in a corpus copy;
CORPUS is a built-in corpus or a manifest file (`describe cremad.csv --root /data/CREMA-D`)."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

from .. import describe as describe_mod
from ..describe import describe
from ..vocab import CORPORA

MANIFEST_SUFFIXES = (".csv", ".jsonl", ".ndjson")


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
    for side in ("split", "fold"):
        if f"your_{side}" in d:
            print(f"  your {side} column (files): {d[f'your_{side}']}; the clean protocol honours it")
    if "segments" in d:
        print(f"  segments: {d['segments']}, array shape {tuple(d['shape'])} ({d['store']})")
        print(f"  segments by version: {d['segments_by_version']}")
    if d["rejected"]:
        print(f"  rejected by reason: {d['rejected_by_reason']}")
    for r in d["rejected"]:
        print(f"  rejected {r['path']}: {r['reason']}")
    if d.get("splits"):
        import pandas as pd

        print("  split sizes (recordings / segments / original segments / speakers per side):")
        print(pd.DataFrame(d["splits"]).fillna("").to_string(index=False))


def is_manifest(corpus: str) -> bool:
    """A CORPUS argument naming a table (.csv, .jsonl) is a manifest, not a built-in corpus name."""
    return Path(corpus).suffix.lower() in MANIFEST_SUFFIXES or Path(corpus).is_file()


def manifest_name(file: str) -> str:
    """A plain corpus name from a manifest's file name (`CREMA-D v2.csv` -> `crema-d-v2`)."""
    name = re.sub(r"[^a-z0-9_-]+", "-", Path(file).stem.lower()).strip("-_0123456789")
    return (name or "manifest")[:32]


def manifest_options(args: argparse.Namespace) -> dict[str, Any]:
    """The CorpusSpec keys of a manifest corpus given on the command line."""
    opts: dict[str, Any] = {"manifest": args.corpus}
    if args.emotions:
        opts["emotions"] = tuple(e.strip() for e in args.emotions.split(",") if e.strip())
    if args.label_map:
        pairs = [item.partition("=") for item in args.label_map.split(",") if item.strip()]
        opts["label_map"] = {k.strip(): v.strip() for k, _, v in pairs}
    if args.language:
        opts["language"] = args.language
    return opts


def _run(args: argparse.Namespace) -> int:
    root = args.root_opt or args.root
    manifest = manifest_options(args) if is_manifest(args.corpus) else None
    name = args.name or (manifest_name(args.corpus) if manifest else args.corpus)
    d = describe(name, root, segments=args.segments or bool(args.splits), cache_dir=args.cache,
                 workers=args.workers, progress=not args.json, splits=args.splits, seed=args.seed, manifest=manifest)
    if args.json:
        print(json.dumps(d, sort_keys=True))
    else:
        _print_text(d)
    return 0


def register_cli(subparsers: Any) -> None:
    p = subparsers.add_parser("describe", help="summarise a corpus copy (files, speakers, rejects, segments)",
                              description=(describe_mod.__doc__ or "").splitlines()[0])
    p.add_argument("corpus", help=f"a built-in corpus ({', '.join(CORPORA)}) or a manifest file (.csv, .jsonl)")
    p.add_argument("root", nargs="?", default=None, help="corpus folder (optional for synthetic)")
    p.add_argument("--root", dest="root_opt", default=None, help="corpus folder (the same as ROOT)")
    p.add_argument("--name", default=None, help="manifest corpus name (default: from the file name)")
    p.add_argument("--emotions", default=None, help="manifest: emotions to keep, comma-separated (default: all)")
    p.add_argument("--label-map", default=None, help="manifest: LABEL=emotion pairs, comma-separated")
    p.add_argument("--language", default=None, help="manifest: the corpus language (e.g. en)")
    p.add_argument("--segments", action="store_true", help="build or reuse the feature store; count segments")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--splits", type=int, default=None, metavar="K",
                   help="also the split sizes of every protocol, k-fold ones with K folds (implies --segments)")
    p.add_argument("--seed", type=int, default=0, help="split seed for --splits")
    p.add_argument("--cache", type=Path, default=None, help="cache folder (default $SERTACK_CACHE or ~/.cache/sertack)")
    p.add_argument("--workers", type=int, default=None, help="feature processes (default: all cores)")
    p.set_defaults(func=_run)
