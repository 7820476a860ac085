"""EMOVO (Italian): folders f1 f2 f3 m1 m2 m3 holding names like `dis-f1-b1.wav` (emotion, speaker, text).

Files are 48 kHz and mostly stereo; `sercore.audio.load` downmixes and resamples to 16 kHz.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .base import CorpusLoader, ParseError

EMOTIONS = {"dis": "disgust", "gio": "happiness", "neu": "neutral", "pau": "fear", "rab": "anger",
            "sor": "surprise", "tri": "sadness"}


class EMOVO(CorpusLoader):
    name = "emovo"
    layout = "speaker folders f1 f2 f3 m1 m2 m3 with files named like dis-f1-b1.wav"
    sample_rate = 48000
    name_pattern = re.compile(r"^([a-z]{3})-([fm]\d)-([a-z]+\d*)$")
    name_form = "<emotion>-<speaker>-<text>.wav"

    def parse(self, rel: Path) -> dict[str, Any]:
        code, speaker, text = self.name_fields(rel, rel.stem.lower())
        if code not in EMOTIONS:
            raise ParseError(f"unknown emotion code {code!r} (expected one of {' '.join(EMOTIONS)})")
        folder = rel.parent.name.lower()
        if folder and re.fullmatch(r"[fm]\d", folder) and folder != speaker:
            raise ParseError(f"speaker {speaker} in name but folder {folder}")
        return {"speaker": speaker, "emotion": EMOTIONS[code], "text": text}

    def gender(self, speaker: str) -> str:
        return "female" if speaker.startswith("f") else "male"
