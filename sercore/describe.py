"""`python -m sercore describe CORPUS [ROOT]`: what a user needs to trust a corpus copy before a long run.

Files per emotion and gender, speakers, rejected files (and unreadable folders) with reasons and how many of each
kind; with `--segments` the feature store is
built (or reused) and segment counts and the array shape are added.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from .datasets import kept, load_corpus
from .datasets.manifest import FOLD_COLUMN, SPLIT_COLUMN, export_manifest, resolve
from .env import default_cache_dir
from .errors import ConfigError
from .specs import CorpusSpec, FeatureSettings
from .strict import pydantic_problems
from .vocab import CORPORA


def _spec(corpus: str, root: str | Path | None, manifest: dict[str, Any] | None = None) -> CorpusSpec:
    """A built-in corpus by name, or a manifest corpus (`manifest`: the CorpusSpec keys, `manifest:` included)."""
    if manifest is not None:
        if root is None:
            raise ConfigError(f"manifest {manifest.get('manifest')}: needs the ROOT folder its paths are relative to")
        try:
            spec = CorpusSpec.model_validate({"name": corpus, "root": str(root), **manifest})
        except ValidationError as exc:
            raise ConfigError("; ".join(pydantic_problems(exc, str(manifest.get("manifest")), ""))) from exc
        return resolve(spec)
    if corpus not in CORPORA:
        raise ConfigError(f"unknown corpus {corpus!r} (expected one of {', '.join(CORPORA)}, or a manifest file)")
    if corpus != "synthetic" and root is None:
        raise ConfigError(f"corpus {corpus!r} needs a ROOT folder")
    return CorpusSpec(name=corpus, root=str(root) if root is not None else None)


def _counts(series: Any) -> dict[str, int]:
    return {str(k): int(v) for k, v in series.value_counts().sort_index().items()}


def reason_kind(reason: str, manifest: str | None = None) -> str:
    """A rejection reason without its particulars (a manifest's line, a peak, a link target, a file name), so
    rejects can be counted by kind: 'samples outside [-1, 1] (peak 8.0)' -> 'samples outside [-1, 1]'."""
    if manifest is not None and reason.startswith(f"{Path(manifest).expanduser()} line "):
        reason = reason.split(": ", 1)[-1]
    return re.split(r" \(|: | -> ", reason, maxsplit=1)[0]


def _rejected(rejected: Any, manifest: str | None) -> dict[str, Any]:
    kinds = rejected["reason"].map(lambda r: reason_kind(r, manifest))
    return {"rejected": rejected[["path", "reason"]].to_dict("records"), "rejected_by_reason": _counts(kinds)}


def describe(corpus: str, root: str | Path | None = None, *, segments: bool = False,
             cache_dir: Path | None = None, workers: int | None = None, progress: bool = False,
             splits: int | None = None, seed: int = 0, manifest: dict[str, Any] | None = None) -> dict[str, Any]:
    """Summary of a corpus copy as a JSON-ready dict (see the module docstring). `manifest`: the corpus is
    `corpus` (a plain name) read from a manifest, with these CorpusSpec keys (`manifest`, `label_map`...)."""
    spec = _spec(corpus, root, manifest)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    c = load_corpus(spec, cache_dir)
    k = kept(c.files, spec.kept_emotions)
    out: dict[str, Any] = {
        "corpus": corpus, "root": str(c.root), "files": int(len(c.files)), "kept_emotions": list(spec.kept_emotions),
        "kept_files": int(len(k)), "speakers": sorted(map(str, c.files["speaker"].unique())),
        "by_gender": _counts(c.files["gender"]), "by_emotion": _counts(c.files["emotion"]),
        "kept_by_emotion_gender": {e: _counts(g["gender"]) for e, g in k.groupby("emotion")},
        "duration_s": {"min": round(float(c.files["duration_s"].min()), 3),
                       "max": round(float(c.files["duration_s"].max()), 3),
                       "total": round(float(c.files["duration_s"].sum()), 1)},
        **_rejected(c.rejected, spec.manifest),
        **{f"your_{side}": _counts(c.files[col]) for side, col in (("split", SPLIT_COLUMN), ("fold", FOLD_COLUMN))
           if col in c.files},  # a manifest's own split or folds, which the clean protocol honours
    }
    if segments:
        from .store import open_store

        store = open_store(spec, FeatureSettings(), cache_dir, workers=workers, progress=progress)
        out.update({"segments": int(len(store.meta)), "shape": list(store.x.shape), "store": str(store.path),
                    "segments_by_version": _counts(store.meta["version"]),
                    "segments_by_emotion": _counts(store.meta["emotion"]),
                    "segments_by_gender": _counts(store.meta["gender"]),
                    **_rejected(store.rejected, spec.manifest)})
        if splits:
            from .splits import split_sizes
            from .vocab import class_order

            index = {e: i for i, e in enumerate(class_order(spec.kept_emotions))}
            sizes = split_sizes(store.meta, store.meta["emotion"].map(index).to_numpy(), seed, splits)
            out["splits"] = sizes.astype(object).where(sizes.notna(), None).to_dict("records")  # type: ignore[call-overload]  # pandas-stubs: other=None
    return out


def export(corpus: str, root: str | Path | None, out: Path, *, cache_dir: Path | None = None) -> int:
    """Write a built-in corpus copy's manifest (every recognised file, checked) to `out`; the row count."""
    spec = _spec(corpus, root)
    c = load_corpus(spec, Path(cache_dir) if cache_dir is not None else default_cache_dir())
    return export_manifest(c, Path(out))
