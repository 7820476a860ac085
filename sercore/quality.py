"""How a waveform adversarial example sounds: PESQ (wide band), STOI and segmental SNR against the clean segment.

SNR says how loud a perturbation is, not how audible: the perceptual metrics come from maintained packages
(`pesq`, ITU-T P.862.2 wide band, 16 kHz only; `pystoi`, Taal et al. 2011), never re-implemented here. Both are
computed on what a listener gets (the re-read 16-bit WAV) against the clean float segment. A metric that cannot be
computed (a silent segment, one too short, a sample rate PESQ does not take) is NaN, and `quality_note` says why,
so the report can count the reasons; nothing here raises on audio content.

Cost, measured on the shared 2-core VM (3-s segment): PESQ ~0.09 s, STOI ~0.015 s, segmental SNR < 1 ms.
"""

from __future__ import annotations

import warnings

import numpy as np

PESQ_RATE = 16000  # P.862.2 wide band is defined at 16 kHz only
SEG_FRAME_S, SEG_MIN_DB, SEG_MAX_DB = 0.030, -10.0, 35.0  # Loizou's comp_snr.m: 30 ms frames, limits in dB


def _silent(*waves: np.ndarray) -> bool:
    return any(not np.any(w) for w in waves)


def pesq_wb(clean: np.ndarray, heard: np.ndarray, sr: int) -> tuple[float, str]:
    """(wide-band PESQ MOS-LQO, "") or (NaN, why): the package raises on silent or < 0.25 s input."""
    from pesq import PesqError, pesq

    if sr != PESQ_RATE:
        return float("nan"), f"PESQ needs {PESQ_RATE} Hz (got {sr})"
    if _silent(clean, heard):
        return float("nan"), "PESQ: silent segment"
    try:
        return float(pesq(sr, np.asarray(clean, np.float64), np.asarray(heard, np.float64), "wb")), ""
    except PesqError as exc:  # NoUtterancesError, BufferTooShortError, ...: its message is bytes
        msg = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        return float("nan"), f"PESQ: {msg.rstrip('.').lower()}"


def stoi(clean: np.ndarray, heard: np.ndarray, sr: int) -> tuple[float, str]:
    """(STOI in [0, 1], "") or (NaN, why): pystoi returns a placeholder 1e-5 with a warning when too few speech
    frames are left after its silence removal, and 0 for silent input; neither is a measurement."""
    from pystoi import stoi as _stoi

    if _silent(clean, heard):
        return float("nan"), "STOI: silent segment"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        value = float(_stoi(np.asarray(clean, np.float64), np.asarray(heard, np.float64), sr, extended=False))
    if any("Not enough STFT frames" in str(w.message) for w in caught):
        return float("nan"), "STOI: too few speech frames"
    return value, ""


def segmental_snr(clean: np.ndarray, heard: np.ndarray, sr: int) -> float:
    """Segmental SNR in dB as defined in Loizou, *Speech Enhancement: Theory and Practice* (2nd ed., 2013),
    eq. 11.4 and its reference code comp_snr.m (after Hansen & Pellom, ICSLP 1998): Hann-windowed 30-ms frames
    with a quarter-frame hop, per frame 10 log10(sum s^2 / (sum (s - s_hat)^2 + eps) + eps) limited to
    [-10, 35] dB, then the mean over frames. The limits keep silent frames from dominating (unlike whole-file SNR)."""
    win = int(round(SEG_FRAME_S * sr))
    hop = win // 4
    window = np.hanning(win)
    s, d = np.asarray(clean, np.float64), np.asarray(heard, np.float64)
    n = 1 + max(0, (len(s) - win) // hop)
    idx = np.arange(win)[None, :] + hop * np.arange(n)[:, None]
    frames_s, frames_n = s[idx] * window, (s - d)[idx] * window
    eps = np.finfo(np.float64).eps
    per = 10 * np.log10((frames_s**2).sum(axis=1) / ((frames_n**2).sum(axis=1) + eps) + eps)
    return float(np.clip(per, SEG_MIN_DB, SEG_MAX_DB).mean())


def quality_columns(clean: np.ndarray, heard: np.ndarray, sr: int) -> dict[str, np.ndarray]:
    """Per row: `pesq_wb`, `stoi`, `seg_snr_db` and `quality_note` ("" or the reasons a metric is NaN, `; `-joined)."""
    cols: dict[str, list] = {"pesq_wb": [], "stoi": [], "seg_snr_db": [], "quality_note": []}
    for c, h in zip(clean, heard, strict=True):
        p, why_p = pesq_wb(c, h, sr)
        q, why_q = stoi(c, h, sr)
        cols["pesq_wb"].append(p)
        cols["stoi"].append(q)
        cols["seg_snr_db"].append(segmental_snr(c, h, sr))
        cols["quality_note"].append("; ".join(w for w in (why_p, why_q) if w))
    return {k: np.asarray(v, dtype=str if k == "quality_note" else np.float64) for k, v in cols.items()}
