"""Controlled vocabularies shared by every corpus: one English emotion set, two genders, three languages."""

from __future__ import annotations

from enum import StrEnum


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


CORPORA: tuple[str, ...] = ("emodb", "emovo", "ravdess", "synthetic")

LANGUAGE: dict[str, str] = {"emodb": "de", "emovo": "it", "ravdess": "en", "synthetic": "xx"}

# The paper keeps five emotions per corpus, chosen by a greedy correlation analysis (paper code,
# correleations_analysis.ipynb); the synthetic corpus mirrors EmoDB's five.
PAPER_EMOTIONS: dict[str, tuple[str, ...]] = {
    "emodb": ("sadness", "neutral", "happiness", "boredom", "disgust"),
    "emovo": ("happiness", "fear", "surprise", "disgust", "neutral"),
    "ravdess": ("surprise", "disgust", "sadness", "happiness", "fear"),
    "synthetic": ("sadness", "neutral", "happiness", "boredom", "disgust"),
}


def class_order(emotions: tuple[str, ...] | list[str]) -> tuple[str, ...]:
    """Label index order: alphabetical, as the paper's OneHotEncoder produced."""
    return tuple(sorted(emotions))
