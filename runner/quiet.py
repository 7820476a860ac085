"""Keep a CPU host's console clean: TensorFlow's C++ log level, ART's PyTorch warning and TensorFlow's retracing
warnings for functions that retrace by design, set before TF loads.

On a host without an NVIDIA driver TensorFlow logs an E-level "failed call to cuInit" at import, which reads like
a failure but only means "no GPU here": level 3 hides it. Where a driver is present level 2 keeps real CUDA
errors visible. A level the user set is never overridden.

"N out of the last M calls to <fn> triggered tf.function retracing" (a WARNING of the `tensorflow` logger) counts
traces per function CODE, across every instance in the process (tensorflow's polymorphic_function keys its
detector on `__code__`). Three kinds of function trace often by design, and their warnings go to DEBUG:
  - sercore.estimator's `_graph_*` and sercore.fast_attacks' BIM `loop`: one trace per padded batch shape (at most
    max_batch / 32 + 6 shapes, inputs are tensors), and a new classifier per attack job in a local run;
  - keras' `TensorFlowTrainer` train/predict functions: a new one per model (every tuner trial, every job's
    model), plus the last partial batch.
Retracing warnings about any other function still show (a real retracing bug in new code stays visible).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

NVIDIA_MARKERS = ("/proc/driver/nvidia", "/dev/nvidiactl")
RETRACING = "triggered tf.function retracing"
BY_DESIGN = ("CompiledTensorFlowV2Classifier._graph_", "_bim_graph.<locals>.loop", "TensorFlowTrainer")

log = logging.getLogger(__name__)


class ExpectedRetracing(logging.Filter):
    """Moves TensorFlow's retracing warnings about the BY_DESIGN functions to this module's DEBUG log."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if RETRACING not in message or not any(name in message for name in BY_DESIGN):
            return True
        log.debug("expected tf.function retracing (runner.quiet): %s", message[:200])
        return False


def has_nvidia_driver() -> bool:
    return any(Path(p).exists() for p in NVIDIA_MARKERS)


def quiet() -> None:
    """Call at every entry point (CLI, Slurm worker) before TensorFlow is imported."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2" if has_nvidia_driver() else "3")
    # ART 1.20 warns at import that its PyTorch-only certification tools are missing; sertack never uses them.
    warnings.filterwarnings("ignore", message="PyTorch not found", category=UserWarning)
    tf_log = logging.getLogger("tensorflow")
    if not any(isinstance(f, ExpectedRetracing) for f in tf_log.filters):
        tf_log.addFilter(ExpectedRetracing())
