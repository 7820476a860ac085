"""Corpus loaders: one per corpus, all returning the same metadata table (see `base.Corpus`).

    load_corpus(spec, cache_dir) -> Corpus(name, root, files, rejected)
    kept(files, emotions)        -> the rows of the kept emotions
"""

from __future__ import annotations

from pathlib import Path

from ..specs import CorpusSpec
from ..vocab import CORPORA
from . import synthetic as _synthetic
from .base import FILE_COLUMNS, Corpus, CorpusLoader, ParseError, kept
from .emodb import EmoDB
from .emovo import EMOVO
from .ravdess import RAVDESS
from .synthetic import Synthetic

LOADERS: dict[str, type[CorpusLoader]] = {cls.name: cls for cls in (EmoDB, EMOVO, RAVDESS, Synthetic)}
assert tuple(LOADERS) == CORPORA, "one loader per corpus of sercore.vocab, in its order"

__all__ = ["FILE_COLUMNS", "LOADERS", "Corpus", "CorpusLoader", "ParseError", "corpus_root", "kept",
           "load_corpus"]


def corpus_root(spec: CorpusSpec, cache_dir: Path) -> Path:
    """Where the corpus lives; for `synthetic` without a root, the generated cache folder (built if needed)."""
    if spec.name == "synthetic" and not spec.root:
        return _synthetic.ensure(Path(cache_dir), spec.synthetic_per_class, spec.kept_emotions)
    return Path(spec.root).expanduser()  # type: ignore[arg-type]


def load_corpus(spec: CorpusSpec, cache_dir: Path, *, check: bool = True) -> Corpus:
    """All recognised files of a corpus copy (every emotion) plus the rejected ones with reasons."""
    return LOADERS[spec.name]().load(corpus_root(spec, cache_dir), check=check)
