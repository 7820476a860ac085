"""Controlled vocabularies, one owner each: emotions, genders, corpora (language, display name, order), attacks
(display name, order: derived from the attack classes), architectures, normalisations and protocols.

Closed sets that pydantic specs validate are `Literal` types defined here once; their tuples (`CORPORA`,
`ARCHS`, ...) are derived from them, so specs, loaders, command lines and the report agree by construction. Values
stay plain strings: a spec's canonical JSON (and so every job id) does not depend on how the set is declared.
Tuple order is display order (the paper's tables), which `corpus_rank` / `attack_rank` sort by.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import TYPE_CHECKING, Literal, get_args

from .attack_params import ATTACK_CLASSES


class Emotion(StrEnum):
    ANGER = "anger"
    BOREDOM = "boredom"
    CALM = "calm"
    DISGUST = "disgust"
    FEAR = "fear"
    HAPPINESS = "happiness"
    NEUTRAL = "neutral"
    SADNESS = "sadness"
    SURPRISE = "surprise"


class Gender(StrEnum):
    MALE = "male"
    FEMALE = "female"


# ---------------------------------------------------------------- corpora

# Any plain name is a corpus (a manifest corpus, docs/bring-your-own.md); it becomes a column value, a cache
# folder name and a table header, hence the pattern. The built-in corpora below have their own loaders.
CorpusName = str
CORPUS_NAME_PATTERN = r"^[a-z][a-z0-9_-]{0,31}$"
UNKNOWN_LANGUAGE = "und"  # ISO 639-2 "undetermined": a manifest corpus that names no language


@dataclass(frozen=True)
class CorpusFacts:
    """What the study fixes about a built-in corpus: shown as, spoken in, the five emotions it keeps, and the rate
    it is recorded at (a file with another rate is rejected, also when the corpus is read through a manifest)."""

    display: str
    language: str
    emotions: tuple[str, ...]
    sample_rate: int


# One table of built-in corpus facts, in paper order (Tables 4-6), then the synthetic stand-in. The paper keeps
# five emotions per corpus, chosen by a greedy correlation analysis (paper code, correleations_analysis.ipynb);
# the synthetic corpus mirrors EmoDB's five.
BUILTIN_CORPORA: dict[str, CorpusFacts] = {
    "emodb": CorpusFacts("EmoDB", "de", ("sadness", "neutral", "happiness", "boredom", "disgust"), 16000),
    "emovo": CorpusFacts("EMOVO", "it", ("happiness", "fear", "surprise", "disgust", "neutral"), 48000),
    "ravdess": CorpusFacts("RAVDESS", "en", ("surprise", "disgust", "sadness", "happiness", "fear"), 48000),
    "synthetic": CorpusFacts("Synthetic", "xx", ("sadness", "neutral", "happiness", "boredom", "disgust"), 22050),
}
CORPORA: tuple[CorpusName, ...] = tuple(BUILTIN_CORPORA)
# The three corpora the paper reports (the synthetic one is ours, for tests and demos).
PAPER_CORPORA: tuple[CorpusName, ...] = ("emodb", "emovo", "ravdess")
LANGUAGE: dict[str, str] = {k: f.language for k, f in BUILTIN_CORPORA.items()}
CORPUS_DISPLAY: dict[str, str] = {k: f.display for k, f in BUILTIN_CORPORA.items()}
PAPER_EMOTIONS: dict[str, tuple[str, ...]] = {k: f.emotions for k, f in BUILTIN_CORPORA.items()}

# ---------------------------------------------------------------- attacks (derived from the attack classes,
# sercore.attack_params.ATTACK_CLASSES, their one declaration: name, display name, order)


def _attack_display() -> dict[str, str]:
    """Display name per attack, in the declaration order (the paper's: Tables 4-6), with each merged report row
    (`cw`: the report's C&W row, of cw_l2 and cw_linf, the configuration with the lowest accuracy) just before
    the first attack it merges."""
    out: dict[str, str] = {}
    for m in ATTACK_CLASSES:
        if m.report_row is not None:
            out.setdefault(*m.report_row)
        out[m.attack] = m.display
    return out


ATTACK_REGISTRY_NAMES: tuple[str, ...] = tuple(m.attack for m in ATTACK_CLASSES)
# The registry names as a type for annotations (type checkers see str: the set is built from the classes).
if TYPE_CHECKING:
    AttackName = str
else:
    AttackName = Literal[ATTACK_REGISTRY_NAMES]
ATTACK_DISPLAY: dict[str, str] = _attack_display()
ATTACK_ORDER: tuple[str, ...] = tuple(ATTACK_DISPLAY)

# ---------------------------------------------------------------- models and data

# What every model takes: one 3-s segment's log-Mel, (frames, mels, channel) = (261, 128, 1) at the paper's
# feature settings (sercore.features); sercore.models builds to it, sercore.byo checks users' models against it.
MODEL_INPUT_SHAPE = (261, 128, 1)

# The paper's architecture study (m0..m6, Table 21) and its final model (Table 20).
Arch = Literal["m0", "m1", "m2", "m3", "m4", "m5", "m6", "final"]
ARCHS: tuple[Arch, ...] = get_args(Arch)
Normalization = Literal["original", "norm_sum", "norm_max_global", "norm_max_local"]
NORMALIZATIONS: tuple[Normalization, ...] = get_args(Normalization)
# paper: the paper's leaky split; clean: grouped by recording; speaker: held-out speakers (docs/data.md).
Protocol = Literal["paper", "clean", "speaker"]
PROTOCOLS: tuple[Protocol, ...] = get_args(Protocol)

assert set(CORPORA) >= set(PAPER_CORPORA)
assert set(ATTACK_REGISTRY_NAMES) <= set(ATTACK_DISPLAY)


def _rank(order: tuple[str, ...], name: str) -> tuple[int, str]:
    return (order.index(name) if name in order else len(order), name)


def corpus_rank(name: str) -> tuple[int, str]:
    """Sort key: the paper's corpus order; unknown names after, alphabetically."""
    return _rank(CORPORA, name)


def attack_rank(name: str) -> tuple[int, str]:
    """Sort key: the paper's attack order; other names (new registry entries) after, alphabetically."""
    return _rank(ATTACK_ORDER, name)


def class_order(emotions: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Label index order: alphabetical, as the paper's OneHotEncoder produced."""
    return tuple(sorted(emotions))
