"""Corpus loaders: one per corpus, all returning the same metadata table (see `base.Corpus`).

    load_corpus(spec, cache_dir) -> Corpus(name, root, files, rejected)
    loader_for(spec)             -> the built-in loader of its name, or a ManifestLoader when it has `manifest:`
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
from .manifest import ManifestLoader
from .ravdess import RAVDESS
from .synthetic import Synthetic

LOADERS: dict[str, type[CorpusLoader]] = {cls.name: cls for cls in (EmoDB, EMOVO, RAVDESS, Synthetic)}
assert tuple(LOADERS) == CORPORA, "one loader per corpus of sercore.vocab, in its order"

__all__ = ["FILE_COLUMNS", "LOADERS", "Corpus", "CorpusLoader", "ManifestLoader", "ParseError", "corpus_root",
           "kept", "load_corpus", "loader_for"]


def corpus_root(spec: CorpusSpec, cache_dir: Path) -> Path:
    """Where the corpus lives; for `synthetic` without a root, the generated cache folder (built if needed)."""
    if spec.name == "synthetic" and not spec.root:
        return _synthetic.ensure(Path(cache_dir), spec.synthetic_per_class, spec.kept_emotions)
    return Path(spec.root).expanduser()  # type: ignore[arg-type]


def load_corpus(spec: CorpusSpec, cache_dir: Path, *, check: bool = True) -> Corpus:
    """All recognised files of a corpus copy (every emotion) plus the rejected ones with reasons."""
    return loader_for(spec).load(corpus_root(spec, cache_dir), check=check)


def loader_for(spec: CorpusSpec) -> CorpusLoader:
    """A manifest names its files itself; otherwise the corpus's own layout loader reads the folder."""
    loader = ManifestLoader(spec) if spec.manifest is not None else LOADERS[spec.name]()
    loader.follow_symlinks = spec.follow_symlinks
    return loader
