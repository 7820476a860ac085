"""Training throughput of the final model with and without XLA (jit_compile), on whatever device TF sees.

    python benchmarks/train.py [--width 1.0] [--batch 32] [--samples 256] [--epochs 3]

Prints samples/s per mode (median over timed epochs, after one warm-up epoch that pays tracing/compilation)
and the XLA/plain ratio. `sercore.train.resolve_jit` encodes the decision this measures. On a GPU, Keras turns
jit_compile=True back off for these models (its cuDNN LSTM is not XLA-compilable), so both rows run the same way.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def measure(jit: bool, width: float, batch: int, samples: int, epochs: int) -> tuple[float, float]:
    """(samples/s median over timed epochs, first-epoch seconds incl. compilation)."""
    import keras
    import numpy as np

    from sercore.models import build_model
    from sercore.specs import ModelSpec

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, 261, 128, 1)).astype("float32")
    y = keras.utils.to_categorical(rng.integers(0, 5, samples), 5)
    model = build_model(ModelSpec(arch="final", width=width), 5)
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=jit)
    times = []
    for _ in range(epochs + 1):
        t0 = time.perf_counter()
        model.fit(x, y, batch_size=batch, epochs=1, verbose=0, shuffle=True)
        times.append(time.perf_counter() - t0)
    return samples / statistics.median(times[1:]), times[0]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=float, default=1.0)
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--samples", type=int, default=256)
    p.add_argument("--epochs", type=int, default=3, help="timed epochs after one warm-up epoch")
    args = p.parse_args()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    device = tf.config.experimental.get_device_details(gpus[0]).get("device_name", "GPU") if gpus else "cpu"
    print(f"device={device} cpus={len(os.sched_getaffinity(0))} tf={tf.__version__} width={args.width} "
          f"batch={args.batch} samples={args.samples} epochs={args.epochs}")
    rates = {}
    for jit in (False, True):
        rate, first = measure(jit, args.width, args.batch, args.samples, args.epochs)
        rates[jit] = rate
        print(f"jit_compile={str(jit):5s}  {rate:8.1f} samples/s  (first epoch {first:.1f} s)")
    print(f"xla/plain ratio: {rates[True] / rates[False]:.2f}")


if __name__ == "__main__":
    main()
