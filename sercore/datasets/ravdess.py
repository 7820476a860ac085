"""RAVDESS speech: `Actor_01..24/03-01-EE-II-SS-RR-AA.wav`; only audio-only (03) speech (01) is kept.

Fields: modality, vocal channel, emotion, intensity (01 normal, 02 strong), statement, repetition, actor.
Odd actors are male. Song or video files found in the tree are listed as rejected, not silently used.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .base import CorpusLoader, ParseError

EMOTIONS = {"01": "neutral", "02": "calm", "03": "happiness", "04": "sadness", "05": "anger", "06": "fear",
            "07": "disgust", "08": "surprise"}


class RAVDESS(CorpusLoader):
    name = "ravdess"
    layout = "folders Actor_01..Actor_24 with files named like 03-01-05-01-02-01-12.wav"
    sample_rate = 48000
    name_pattern = re.compile(r"^(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)-(\d\d)$")
    name_form = "MM-VV-EE-II-SS-RR-AA.wav"

    def parse(self, rel: Path) -> dict[str, Any]:
        modality, channel, emotion, intensity, statement, repetition, actor = self.name_fields(rel)
        if modality != "03":
            raise ParseError(f"modality {modality} is not audio-only (03)")
        if channel != "01":
            raise ParseError(f"vocal channel {channel} is not speech (01)")
        if emotion not in EMOTIONS:
            raise ParseError(f"unknown emotion code {emotion} (expected 01..08)")
        return {"speaker": actor, "emotion": EMOTIONS[emotion], "text": statement,
                "intensity": "strong" if intensity == "02" else "normal", "repetition": repetition}

    def gender(self, speaker: str) -> str:
        return "male" if int(speaker) % 2 == 1 else "female"
