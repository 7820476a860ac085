"""EmoDB (Berlin): a flat folder of names like `03a01Fa.wav` = speaker 03, text a01, emotion F, take a."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .base import CorpusLoader, ParseError

# German initials of the emotion words (Ärger, Langeweile, Ekel, Angst, Freude, Trauer, Neutral).
EMOTIONS = {"W": "anger", "L": "boredom", "E": "disgust", "A": "fear", "F": "happiness", "T": "sadness",
            "N": "neutral"}
MALE = frozenset({"03", "10", "11", "12", "15"})
FEMALE = frozenset({"08", "09", "13", "14", "16"})


class EmoDB(CorpusLoader):
    name = "emodb"
    layout = "a flat folder of EmoDB WAV files named like 03a01Fa.wav (speaker, text, emotion letter, take)"
    sample_rate = 16000
    recursive = False
    name_pattern = re.compile(r"^(\d\d)([a-b]\d\d)([A-Z])([a-z])$")
    name_form = "<speaker 2 digits><text a01..b10><emotion><take>"

    def parse(self, rel: Path) -> dict[str, Any]:
        speaker, text, letter, take = self.name_fields(rel)
        if letter not in EMOTIONS:
            raise ParseError(f"unknown emotion letter {letter!r} (expected one of {' '.join(EMOTIONS)})")
        if speaker not in MALE | FEMALE:
            raise ParseError(f"unknown speaker {speaker!r} (expected one of {' '.join(sorted(MALE | FEMALE))})")
        # `take` is EmoDB's version letter; named so it cannot be confused with the store's augmentation version.
        return {"speaker": speaker, "emotion": EMOTIONS[letter], "text": text, "take": take}

    def gender(self, speaker: str) -> str:
        return "male" if speaker in MALE else "female"
