"""Keep a CPU host's console clean: TensorFlow's C++ log level and ART's PyTorch warning, set before TF loads.

On a host without an NVIDIA driver TensorFlow logs an E-level "failed call to cuInit" at import, which reads like
a failure but only means "no GPU here": level 3 hides it. Where a driver is present level 2 keeps real CUDA
errors visible. A level the user set is never overridden.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

NVIDIA_MARKERS = ("/proc/driver/nvidia", "/dev/nvidiactl")


def has_nvidia_driver() -> bool:
    return any(Path(p).exists() for p in NVIDIA_MARKERS)


def quiet() -> None:
    """Call at every entry point (CLI, Slurm worker) before TensorFlow is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if has_nvidia_driver() else "3")
    # ART 1.20 warns at import that its PyTorch-only certification tools are missing; sertack never uses them.
    warnings.filterwarnings("ignore", message="PyTorch not found", category=UserWarning)
