"""The loader every corpus shares: list files, parse each name, check each file, return two tables.

A corpus differs from another only in three hooks (`list_files`, `parse`, `gender`); a manifest corpus replaces
them with one (`candidates`, from its table). Everything else (errors, rejections, audio checks, column order)
lives here once. Audio is not decoded beyond a cheap sanity check:
features are computed later, in `sercore.store`.
"""

from __future__ import annotations

import logging
import os
import re
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
# Float WAVs may overshoot full scale by a rounding step; far beyond it the file was written unnormalised and would
# be kept silently wrong (issue 23's campaign saw such a file kept with its features shifted by 60 dB).
MAX_PEAK = 1.0 + 1e-3
PERMISSION_DENIED = "permission denied"


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


def walk_audio(root: Path, *, recursive: bool = True) -> tuple[list[Path], list[tuple[Path, str]]]:
    """Every *.wav under `root`, sorted, and every folder that could not be listed, with why.

    `os.walk` with an error handler, because `Path.rglob` skips an unreadable folder without a word (RAVDESS keeps
    each actor in one folder: a whole speaker vanished). Symlinked folders are not entered, as rglob did; symlinked
    files are listed (a broken one too: `link_problem` rejects it with its reason)."""
    files: list[Path] = []
    unreadable: list[tuple[Path, str]] = []

    def failed(exc: OSError) -> None:
        why = PERMISSION_DENIED if isinstance(exc, PermissionError) else f"unreadable folder: {exc.strerror}"
        unreadable.append((Path(exc.filename), why))

    for folder, dirs, names in os.walk(root, onerror=failed):
        paths = (Path(folder) / n for n in names if Path(n).suffix.lower() == ".wav")
        files += [p for p in paths if p.is_file() or p.is_symlink()]  # no FIFO or device: reading one blocks
        if not recursive:
            dirs.clear()
    return sorted(files), sorted(unreadable)


def link_problem(root: Path, rel: str, follow_symlinks: bool = False) -> str | None:
    """Why `root/rel` is refused as a link (None when it is not a link or a fine one).

    A symlink that resolves outside the corpus root reads audio nobody listed as this corpus (a shared scratch
    copy, another corpus): refused unless the corpus allows it (`CorpusSpec.follow_symlinks`). Links inside the
    root are fine. A broken link says so rather than 'unreadable'; a path in a folder that cannot be searched
    (a manifest row under an unreadable speaker folder) is 'permission denied'."""
    path = root / rel
    target = path.resolve()
    if not follow_symlinks and not target.is_relative_to(root.resolve()):
        return f"symlink leaving the corpus root -> {target}"
    try:
        if path.is_symlink() and not target.exists():
            return f"broken symlink -> {target}"
    except PermissionError:
        return PERMISSION_DENIED
    return None


def _permission(path: Path) -> str | None:
    """'permission denied' (or the OS's reason) when the file cannot be opened: libsndfile says only 'System
    error' for it."""
    try:
        os.close(os.open(path, os.O_RDONLY))
    except PermissionError:
        return PERMISSION_DENIED
    except OSError as exc:
        return f"unreadable: {exc.strerror}"
    return None


def _sample_problem(data: np.ndarray) -> str | None:
    """Non-finite samples, samples beyond full scale, digital silence, or channels that cancel when mixed down
    (`sercore.audio.load` averages them, as librosa does: L = -R becomes all zeros)."""
    if not np.isfinite(data).all():
        return "unreadable: non-finite samples"
    peak = float(np.abs(data).max(initial=0.0))
    if peak > MAX_PEAK:
        return f"samples outside [-1, 1] (peak {round(peak, 3)})"
    if peak < SILENCE_PEAK:
        return f"all silent: peak below {SILENCE_PEAK}"
    if data.shape[1] > 1:
        mono = float(np.abs(data.mean(axis=1)).max(initial=0.0))
        if mono < SILENCE_PEAK:
            return (f"silent after mixing down to mono: the channels cancel (peak {round(peak, 3)} per channel, "
                    f"{mono:.1e} mixed)")
    return None


def check_audio(path: Path, sample_rate: int | None = None) -> tuple[float, str | None]:
    """(duration in s, None) for a usable file, else (duration or 0, reason). Never raises.

    `sample_rate`: the rate the corpus was recorded at; a file whose header claims another rate (re-encoded,
    or a patched header that would silently stretch it in time and pitch) is rejected."""
    denied = _permission(path)
    if denied:
        return 0.0, denied
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
    return duration, _sample_problem(data)


class CorpusLoader:
    """Base loader. Subclasses set `name`, `layout` and implement the hooks."""

    # A class attribute for the built-in loaders; a manifest loader sets it per instance (any plain name).
    name: CorpusName
    # One line shown when the root is missing or holds nothing recognisable.
    layout: ClassVar[str]
    # The rate every recording of the corpus has (None: any); files with another rate are rejected.
    sample_rate: ClassVar[int | None] = None
    # Whether speaker folders are searched (EmoDB is one flat folder).
    recursive: ClassVar[bool] = True
    # Accept symlinks leaving the root (`CorpusSpec.follow_symlinks`; set per instance by `loader_for`).
    follow_symlinks: bool = False
    # A built-in layout's file-name pattern (its groups are the name's fields) and the form a rejection names.
    name_pattern: ClassVar[re.Pattern[str] | None] = None
    name_form: ClassVar[str] = ""

    # --- hooks -------------------------------------------------------------------------------------------
    def scan(self, root: Path) -> tuple[list[Path], list[tuple[Path, str]]]:
        """Candidate audio files under `root` (default: every *.wav, sorted) and the folders that could not be
        read, with why."""
        return walk_audio(root, recursive=self.recursive)

    def list_files(self, root: Path) -> list[Path]:
        """Candidate audio files under `root` (what the feature store's fingerprint covers)."""
        return self.scan(root)[0]

    def parse(self, rel: Path) -> dict[str, Any]:
        """Metadata from a relative path: at least speaker and emotion. Raise ParseError(reason) if foreign."""
        raise NotImplementedError

    def gender(self, speaker: str) -> str:
        """'male' or 'female' for a speaker id."""
        raise NotImplementedError

    def candidates(self, root: Path) -> Iterator[tuple[str, dict[str, Any] | str]]:
        """(relative path, metadata) per candidate file, or (relative path, rejection reason). The metadata holds
        speaker, gender, language first, then the corpus's own columns. Default: `scan` + `parse`; an unreadable
        folder is one rejection (its path, 'permission denied'), never a silent hole."""
        files, unreadable = self.scan(root)
        for folder, why in unreadable:
            yield folder.relative_to(root).as_posix(), why
        for path in files:
            rel = path.relative_to(root)
            try:
                meta = self.parse(rel)
            except ParseError as exc:
                yield rel.as_posix(), str(exc)
                continue
            yield rel.as_posix(), {"speaker": meta["speaker"], "gender": self.gender(meta["speaker"]),
                                   "language": LANGUAGE[self.name], **meta}

    def name_fields(self, rel: Path, stem: str | None = None) -> tuple[str, ...]:
        """The fields of a file name (`name_pattern`'s groups, matched against `stem` or the file's own stem);
        ParseError naming the expected form when the name does not match."""
        m = self.name_pattern.match(rel.stem if stem is None else stem) if self.name_pattern else None
        if not m:
            raise ParseError(f"name does not match {self.name_form}: {rel.name}")
        return m.groups()

    def fingerprint_extra(self) -> bytes:
        """What besides the listed files decides the file table (a manifest's content, following links out of
        the root); empty for a layout that refuses them, so existing stores keep their keys."""
        return b"follow_symlinks" if self.follow_symlinks else b""

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
            duration, reason = self.check(root, rel, meta, audio=check)
            if reason:
                rejected.append({"dataset": self.name, "path": rel, "reason": reason})
                continue
            rows.append({"dataset": self.name, "path": rel, **meta, "duration_s": duration})
        if not rows:
            first = f": {rejected[0]['path']}: {rejected[0]['reason']}" if rejected else ""
            raise DataError(f"{self.name}: no recognisable audio files in {root} "
                            f"({len(rejected)} rejected{first}; expected {self.layout})")
        files = pd.DataFrame(rows)
        extra = [c for c in files.columns if c not in FILE_COLUMNS]
        files = files[list(FILE_COLUMNS) + extra].sort_values("path", ignore_index=True)
        rej = pd.DataFrame(rejected, columns=list(REJECTED_COLUMNS))
        for r in rejected:
            log.warning("%s: skipped %s: %s", self.name, r["path"], r["reason"])
        return Corpus(name=self.name, root=root, files=files, rejected=rej)

    def check(self, root: Path, rel: str, meta: dict[str, Any], *, audio: bool = True) -> tuple[float, str | None]:
        """`link_problem`, then (`audio`) `check_audio` at the corpus's rate; a manifest loader prefixes the reason
        with the row's line."""
        link = link_problem(root, rel, self.follow_symlinks)
        if link or not audio:
            return (0.0 if link else float("nan")), link
        return check_audio(root / rel, self.sample_rate)
