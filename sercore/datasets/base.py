"""The loader every corpus shares: list files, parse each name, check each file, return two tables.

A corpus differs from another only in three hooks (`list_files`, `parse`, `gender`); a manifest corpus replaces
them with one (`candidates`, from its table). Everything else (errors, rejections, audio checks, column order)
lives here once. Audio is not decoded beyond a cheap sanity check:
features are computed later, in `sercore.store`.
"""

from __future__ import annotations

import logging
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import soundfile as sf

from ..errors import DataError
from ..vocab import LANGUAGE, CorpusName

log = logging.getLogger(__name__)

FILE_COLUMNS = ("dataset", "path", "speaker", "gender", "emotion", "language")
REJECTED_COLUMNS = ("dataset", "path", "reason")
# Below this a file cannot give one trim frame worth of speech; below SILENCE_PEAK it is digital silence.
MIN_DURATION_S = 0.1
SILENCE_PEAK = 1e-4


class ParseError(ValueError):
    """A file name that does not follow the corpus convention; the message is the rejection reason."""


@dataclass(frozen=True)
class Corpus:
    """One corpus copy: recognised files (one row each), rejected files with reasons, and where they live."""

    name: str
    root: Path
    files: pd.DataFrame
    rejected: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(REJECTED_COLUMNS)))


def kept(files: pd.DataFrame, emotions: tuple[str, ...] | list[str]) -> pd.DataFrame:
    """Rows whose emotion is one of `emotions` (the paper keeps five per corpus), index reset."""
    return files[files["emotion"].isin(list(emotions))].reset_index(drop=True)


def declared_frames(path: Path) -> int | None:
    """Frames the WAV header's data chunk declares (None if not a PCM WAV the `wave` module reads).

    libsndfile clamps a truncated file to the bytes present without complaint, so its `frames` alone cannot
    tell a file cut in half from a short recording; the header still says how long it was meant to be."""
    try:
        with wave.open(str(path), "rb") as w:
            return w.getnframes()
    except (wave.Error, EOFError, OSError):
        return None


def check_audio(path: Path, sample_rate: int | None = None) -> tuple[float, str | None]:
    """(duration in s, None) for a usable file, else (duration or 0, reason). Never raises.

    `sample_rate`: the rate the corpus was recorded at; a file whose header claims another rate (re-encoded,
    or a patched header that would silently stretch it in time and pitch) is rejected."""
    try:
        info = sf.info(str(path))
    except Exception as exc:  # soundfile raises LibsndfileError/RuntimeError for anything unreadable
        return 0.0, f"unreadable: {str(exc).splitlines()[0][:120]}"
    if info.frames == 0:
        return 0.0, "empty: no audio frames"
    duration = info.frames / info.samplerate
    if sample_rate is not None and info.samplerate != sample_rate:
        return duration, (f"sample rate {info.samplerate} Hz in the header, but this corpus is recorded at "
                          f"{sample_rate} Hz (re-encoded or corrupt header)")
    declared = declared_frames(path) if path.suffix.lower() == ".wav" else None
    if declared is not None and declared > info.frames:
        return duration, (f"truncated: header declares {declared} frames ({declared / info.samplerate:.3f} s), "
                          f"the file holds {info.frames}")
    if duration < MIN_DURATION_S:
        return duration, f"too short: {duration:.3f} s < {MIN_DURATION_S} s"
    try:
        data, _ = sf.read(str(path), dtype="float32", always_2d=True)
    except Exception as exc:
        return duration, f"unreadable: {str(exc).splitlines()[0][:120]}"
    if not np.isfinite(data).all():
        return duration, "unreadable: non-finite samples"
    if float(np.abs(data).max(initial=0.0)) < SILENCE_PEAK:
        return duration, f"all silent: peak below {SILENCE_PEAK}"
    return duration, None


class CorpusLoader:
    """Base loader. Subclasses set `name`, `layout` and implement the hooks."""

    # A class attribute for the built-in loaders; a manifest loader sets it per instance (any plain name).
    name: CorpusName
    # One line shown when the root is missing or holds nothing recognisable.
    layout: ClassVar[str]
    # The rate every recording of the corpus has (None: any); files with another rate are rejected.
    sample_rate: ClassVar[int | None] = None

    # --- hooks -------------------------------------------------------------------------------------------
    def list_files(self, root: Path) -> list[Path]:
        """Candidate audio files under `root` (default: every *.wav, recursively, sorted)."""
        return sorted(p for p in root.rglob("*") if p.suffix.lower() == ".wav" and p.is_file())

    def parse(self, rel: Path) -> dict[str, Any]:
        """Metadata from a relative path: at least speaker and emotion. Raise ParseError(reason) if foreign."""
        raise NotImplementedError

    def gender(self, speaker: str) -> str:
        """'male' or 'female' for a speaker id."""
        raise NotImplementedError

    def candidates(self, root: Path) -> Iterator[tuple[str, dict[str, Any] | str]]:
        """(relative path, metadata) per candidate file, or (relative path, rejection reason). The metadata holds
        speaker, gender, language first, then the corpus's own columns. Default: `list_files` + `parse`."""
        for path in self.list_files(root):
            rel = path.relative_to(root)
            try:
                meta = self.parse(rel)
            except ParseError as exc:
                yield rel.as_posix(), str(exc)
                continue
            yield rel.as_posix(), {"speaker": meta["speaker"], "gender": self.gender(meta["speaker"]),
                                   "language": LANGUAGE[self.name], **meta}

    def fingerprint_extra(self) -> bytes:
        """What besides the listed files decides the file table (a manifest's content); empty for a layout."""
        return b""

    # --- shared ------------------------------------------------------------------------------------------
    def load(self, root: Path, *, check: bool = True) -> Corpus:
        """Read the corpus layout under `root`; `check` also opens every file to reject broken ones."""
        root = Path(root)
        if not root.is_dir():
            raise DataError(f"{self.name}: corpus root {root} does not exist or is not a folder "
                            f"(expected {self.layout})")
        rows: list[dict[str, Any]] = []
        rejected: list[dict[str, Any]] = []
        for rel, meta in self.candidates(root):
            if isinstance(meta, str):
                rejected.append({"dataset": self.name, "path": rel, "reason": meta})
                continue
            duration, reason = self.check(root / rel, meta) if check else (float("nan"), None)
            if reason:
                rejected.append({"dataset": self.name, "path": rel, "reason": reason})
                continue
            rows.append({"dataset": self.name, "path": rel, **meta, "duration_s": duration})
        if not rows:
            raise DataError(f"{self.name}: no recognisable audio files in {root} "
                            f"({len(rejected)} rejected; expected {self.layout})")
        files = pd.DataFrame(rows)
        extra = [c for c in files.columns if c not in FILE_COLUMNS]
        files = files[list(FILE_COLUMNS) + extra].sort_values("path", ignore_index=True)
        rej = pd.DataFrame(rejected, columns=list(REJECTED_COLUMNS))
        for r in rejected:
            log.warning("%s: skipped %s: %s", self.name, r["path"], r["reason"])
        return Corpus(name=self.name, root=root, files=files, rejected=rej)

    def check(self, path: Path, meta: dict[str, Any]) -> tuple[float, str | None]:
        """`check_audio` at the corpus's rate; a manifest loader prefixes the reason with the row's line."""
        return check_audio(path, self.sample_rate)
