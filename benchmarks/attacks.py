"""Stock ART TensorFlowV2Classifier vs sercore's compiled estimator, attack by attack, in one process.

    python benchmarks/attacks.py                 # table; --json for a list of objects
    python benchmarks/attacks.py --width 1 --n 32 --paper   # the paper's model size and attack settings

The model is the paper's final CNN-BiLSTM (width knob; 1.0 = paper size) trained for a few epochs on seeded
synthetic (261, 128, 1) inputs whose classes differ in a band of mel rows; the test set is a fixed set of n
samples. Each attack runs one configuration (BENCH below: the paper's values with shorter loops so a CPU run ends
in minutes; `--paper` uses the paper's values unchanged) twice with each estimator (freshly built, numpy reseeded
identically before each run). The first (cold) run includes TensorFlow tracing, paid once per job; the second
(warm) run is the steady state of a job's later chunks. `stock_s`, `compiled_s` and `ratio` are warm; the cold
figures are reported beside them. Also: samples/s and accuracy under attack (true labels) for both.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

SHAPE = (261, 128, 1)
# One configuration per attack: paper values, shorter loops (ratios are per-iteration costs; see --paper).
BENCH: dict[str, dict] = {
    "fgsm": {"eps": 0.25},
    "bim": {"eps": 0.25, "max_iter": 20},
    "deepfool": {"max_iter": 5},
    "jsma": {"theta": 1.0, "gamma": 0.01},
    "cw_l2": {"binary_search_steps": 3, "max_iter": 5},
    "cw_linf": {"max_iter": 3, "decrease_factor": 0.5, "largest_const": 0.01},
    "pixel": {"th": 5, "max_iter": 2},
    "boundary": {"max_iter": 10},
}


def synthetic(n: int, n_classes: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Standardised-looking noise with a class-specific band of mel rows raised."""
    y = rng.integers(0, n_classes, n)
    x = rng.normal(size=(n, *SHAPE)).astype(np.float32)
    band = SHAPE[1] // n_classes
    for k in range(n_classes):
        x[y == k, :, k * band : (k + 1) * band] += 0.5
    return x, y.astype(np.int64)


def fixed_model(width: float, n_classes: int, seed: int, epochs: int):
    """The paper's final architecture, trained briefly so attacks have something to fight."""
    import keras

    from sercore.models import build_model
    from sercore.specs import ModelSpec

    keras.utils.set_random_seed(seed)
    model = build_model(ModelSpec(arch="final", width=width), n_classes)
    x, y = synthetic(256, n_classes, np.random.default_rng(seed))
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="sparse_categorical_crossentropy")
    model.fit(x, y, epochs=epochs, batch_size=32, verbose=0)
    return model


def run_one(name: str, params: dict, estimator, x: np.ndarray, y: np.ndarray, batch_size: int, seed: int) -> tuple:
    """(cold s, warm s, accuracy under attack): generate twice with the same estimator and seed."""
    from sercore.attacks import ATTACKS, validate_params

    attack = ATTACKS[name].build(estimator, validate_params(name, params), batch_size)
    times = []
    for _ in range(2):
        np.random.seed(seed)
        t0 = time.perf_counter()
        x_adv = attack.generate(x)
        times.append(time.perf_counter() - t0)
    return times[0], times[1], float(np.mean(estimator.predict(x_adv).argmax(1) == y))


def main(argv: list[str] | None = None) -> int:
    from sercore.attacks import ATTACKS, validate_params

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--attacks", default=",".join(ATTACKS), help="comma-separated registry names")
    p.add_argument("--n", type=int, default=16, help="test samples attacked (default 16)")
    p.add_argument("--width", type=float, default=0.25, help="model width multiplier (1.0 = paper size)")
    p.add_argument("--epochs", type=int, default=3, help="training epochs of the fixed model")
    p.add_argument("--batch-size", type=int, default=256, help="attack batch size (paper 256)")
    p.add_argument("--paper", action="store_true", help="the paper's attack settings instead of BENCH")
    p.add_argument("--jit", choices=["auto", "on", "off"], default="auto", help="XLA for the compiled estimator")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print a JSON list instead of the table")
    args = p.parse_args(argv)

    import tensorflow as tf

    from sercore.estimator import make_classifier

    names = [a.strip() for a in args.attacks.split(",")]
    for name in names:
        validate_params(name, BENCH[name])
    n_classes = 5
    model = fixed_model(args.width, n_classes, args.seed, args.epochs)
    x, y = synthetic(args.n, n_classes, np.random.default_rng(args.seed + 1))
    clip = (float(np.floor(x.min())), float(np.ceil(x.max())))
    jit = None if args.jit == "auto" else args.jit == "on"
    device = "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
    results = []
    if not args.json:
        print(f"# device {device}, width {args.width}, n {args.n}, batch {args.batch_size}, "
              f"{'paper' if args.paper else 'bench'} settings, jit {args.jit}")
        print(f"{'attack':9s} {'stock_s':>8s} {'compiled_s':>10s} {'ratio':>6s} {'stock/s':>8s} {'comp/s':>8s} "
              f"{'acc_stock':>9s} {'acc_comp':>8s} {'cold_stock':>10s} {'cold_comp':>9s} {'cold_ratio':>10s}")
    for name in names:
        params = {} if args.paper else BENCH[name]
        out = {}
        for kind in ("stock", "compiled"):
            est = make_classifier(model, n_classes, clip, compiled=kind == "compiled", max_batch=args.batch_size,
                                  jit_compile=jit)
            out[kind] = run_one(name, params, est, x, y, args.batch_size, args.seed)
        row = {
            "attack": name,
            "params": validate_params(name, params),
            "stock_s": round(out["stock"][1], 3),
            "compiled_s": round(out["compiled"][1], 3),
            "ratio": round(out["stock"][1] / out["compiled"][1], 2),
            "acc_stock": out["stock"][2],
            "acc_compiled": out["compiled"][2],
            "stock_cold_s": round(out["stock"][0], 3),
            "compiled_cold_s": round(out["compiled"][0], 3),
            "cold_ratio": round(out["stock"][0] / out["compiled"][0], 2),
            "n": args.n,
            "device": device,
        }
        results.append(row)
        if not args.json:
            print(f"{name:9s} {row['stock_s']:8.2f} {row['compiled_s']:10.2f} {row['ratio']:6.2f} "
                  f"{args.n / row['stock_s']:8.2f} {args.n / row['compiled_s']:8.2f} "
                  f"{row['acc_stock']:9.3f} {row['acc_compiled']:8.3f} {row['stock_cold_s']:10.2f} "
                  f"{row['compiled_cold_s']:9.2f} {row['cold_ratio']:10.2f}", flush=True)
    if args.json:
        print(json.dumps(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
