"""runner.quiet on a CPU host: TensorFlow's retracing warnings for functions that retrace by design (the compiled
estimator's padded shapes, keras' per-model functions) leave the logs; others stay."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

from runner.quiet import ExpectedRetracing

WARNING = ("5 out of the last 5 calls to <bound method {} of x> triggered tf.function retracing. Tracing is "
           "expensive")

# Batch sizes that pad to seven shapes (1, 2, 4, 8, 16, 32, 64): seven traces of one function. TF logs its warning
# at the 5th trace (5 in the last 10 calls) and once more at the 6th (at most twice a function, in a fresh
# process): the first before quiet() is called, the second after.
PROBE = """
import sys
import numpy as np
import keras
from runner.quiet import quiet
from sercore.estimator import make_classifier
inputs = keras.Input(shape=(4,))
est = make_classifier(keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs)), 3, (0.0, 1.0))
for n in (1, 2, 3, 5, 9):
    est.predict(np.zeros((n, 4), np.float32))
print("== quiet", file=sys.stderr, flush=True)
quiet()
for n in (17, 33):
    est.predict(np.zeros((n, 4), np.float32))
"""


def test_by_design_retracing_is_moved_to_debug(caplog: pytest.LogCaptureFixture) -> None:
    tf_log = logging.getLogger("tensorflow.test_quiet")  # a child: the filter sits on the logger itself
    tf_log.addFilter(ExpectedRetracing())
    with caplog.at_level(logging.DEBUG):
        tf_log.warning(WARNING.format("CompiledTensorFlowV2Classifier._graph_predict"))
        tf_log.warning(WARNING.format("Somebody.new_function"))
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warned == [WARNING.format("Somebody.new_function")]  # an unknown function's retracing still shows
    assert any(r.levelno == logging.DEBUG and "expected tf.function retracing" in r.getMessage()
               for r in caplog.records)


@pytest.mark.slow  # a fresh process imports TensorFlow: 23 s on the loaded 2-core VM
def test_real_estimator_retracing_is_quiet() -> None:
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    before, after = done.stderr.split("== quiet")
    assert "_graph_predict" in before and "triggered tf.function retracing" in before  # TF does warn
    assert "retracing" not in after, after[-2000:]
