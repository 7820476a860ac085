"""A report file with its caption (`Media`) and the one way figures are saved: shared by `figures` and
`transfer_tables`, so neither has to import the other."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from sercore.io import atomic_path  # noqa: E402


@dataclass(frozen=True)
class Media:
    """A figure or sound file of the report, with its caption."""

    path: Path
    caption: str
    kind: str  # "figure" | "audio"


def save_figure(fig: plt.Figure, path: Path, dpi: int = 150) -> Path:
    """Write a PNG atomically (no 'Software' tag, so reruns are byte-stable) and free the figure."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight", metadata={"Software": None})
    plt.close(fig)
    return path


@dataclass(frozen=True)
class Listen:
    """One entry of the report's listening panel: an attacked example of one attack and corpus, its labels, the
    perturbation's size and the WAVs to play (None, with `reason`, where there is no sound)."""

    attack: str  # display name
    dataset: str  # display name
    setting: str  # the configuration (and variant / domain) the example comes from
    true: str
    clean_pred: str
    adv_pred: str
    size: str  # the perturbation's size with its unit
    clean: Path | None = None
    adversarial: Path | None = None
    difference: Path | None = None  # the perturbation alone, amplified to full scale (waveform attacks)
    reason: str = ""  # why there is no sound
    quality: str = ""  # how the adversarial sound compares to the clean one (waveform attacks: wide-band PESQ)
