"""Stock ART TensorFlowV2Classifier vs sercore's compiled estimator, attack by attack, in one process.

    python benchmarks/attacks.py                 # table; --json for a list of objects
    python benchmarks/attacks.py --width 1 --n 32 --paper   # the paper's model size and attack settings
    python benchmarks/attacks.py --attacks bim,pixel --reps 3   # the two the issue #14 goals are about

The model is the paper's final CNN-BiLSTM (width knob; 1.0 = paper size) trained for a few epochs on seeded
synthetic (261, 128, 1) inputs whose classes differ in a band of mel rows; the test set is a fixed set of n
samples. Each attack runs one configuration (BENCH below: the paper's values with shorter loops so a CPU run ends
in minutes; `--paper` uses the paper's values unchanged) twice with each estimator (freshly built, numpy reseeded
identically before each run). The first (cold) run includes TensorFlow tracing, paid once per job; the second
(warm) run is the steady state of a job's later chunks. `stock_s`, `compiled_s` and `ratio` are warm; the cold
figures are reported beside them. Runs are interleaved (cold stock, cold compiled, then warm stock, compiled,
stock, compiled...) so a change in the machine's load hits both alike; warm figures are the best of `--reps`.
Also accuracy under attack (true labels) for both, the model evaluations the compiled run made (`evals`: F
forward, G forward+backward, per sample, counted by the estimator), the ideal time = F x (per-sample forward cost
at the best batch size) + G x (per-sample forward+backward cost at its best batch size), and efficiency = ideal /
warm time: 1.0 would mean no time spent outside the model's arithmetic.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Run as a script, this folder comes first on sys.path and its runner.py would shadow the runner package.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

import numpy as np  # noqa: E402

SHAPE = (261, 128, 1)
# One configuration per attack: paper values, shorter loops (ratios are per-iteration costs; see --paper).
BENCH: dict[str, dict] = {  # attacks not listed run with their defaults
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


def unit_costs(model, n_classes: int, clip: tuple, x: np.ndarray, y: np.ndarray, max_batch: int,
               reps: int = 3) -> dict:
    """Per-sample seconds of one forward (F) and one forward+backward (G) at the best batch size (compiled)."""
    from sercore.estimator import make_classifier

    est = make_classifier(model, n_classes, clip, compiled=True, max_batch=max_batch)
    xb = np.concatenate([x] * (-(-max_batch // len(x))))[:max_batch]
    yb = np.resize(y, len(xb))
    out = {"F": {}, "G": {}}
    for b in [s for s in (1, 8, 32, 64, 128, 256, 512) if s <= max_batch]:
        for kind, fn in (("F", lambda b=b: est.predict(xb[:b])), ("G", lambda b=b: est.loss_gradient(xb[:b], yb[:b]))):
            fn()  # trace
            best = float("inf")
            for _ in range(reps):
                t0 = time.perf_counter()
                fn()
                best = min(best, time.perf_counter() - t0)
            out[kind][b] = best / b
    return {k: (min(v.values()), min(v, key=v.get)) for k, v in out.items()} | {"table": out}


def run_attack(attack, estimator, x: np.ndarray, seed: int) -> tuple[float, np.ndarray, dict]:
    """(seconds, adversarial x, evaluations counted) of one generate call, numpy reseeded first."""
    before = dict(estimator.evals)
    np.random.seed(seed)
    t0 = time.perf_counter()
    x_adv = attack.generate(x)
    dt = time.perf_counter() - t0
    return dt, x_adv, {k: estimator.evals[k] - before.get(k, 0) for k in estimator.evals}


def evals_bound(name: str, params: dict, n: int, n_classes: int, batch: int) -> dict:
    """The cost model's loop bounds (runner.cost.attack_evals without its typical fractions), for n samples."""
    from runner import cost

    saved = dict(cost.TYPICAL)
    cost.TYPICAL.clear()
    try:
        evals = cost.attack_evals(name, params, n_classes, min(batch, n))
    finally:
        cost.TYPICAL.update(saved)
    out = {"F": 1.0 * n, "G": 0.0}  # + ART's label prediction
    for kind, c, _ in evals:
        out[kind] += c * n
    return out


def main(argv: list[str] | None = None) -> int:
    from sercore.attack_params import parse_params
    from sercore.attacks import ATTACKS

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    softmax_ok = [n for n, m in ATTACKS.items() if not m.needs_logits]  # the benchmark's model ends in a softmax
    p.add_argument("--attacks", default=",".join(softmax_ok), help="comma-separated registry names")
    p.add_argument("--n", type=int, default=16, help="test samples attacked (default 16)")
    p.add_argument("--width", type=float, default=0.25, help="model width multiplier (1.0 = paper size)")
    p.add_argument("--epochs", type=int, default=3, help="training epochs of the fixed model")
    p.add_argument("--batch-size", type=int, default=256, help="attack batch size (paper 256)")
    p.add_argument("--paper", action="store_true", help="the paper's attack settings instead of BENCH")
    p.add_argument("--jit", choices=["auto", "on", "off"], default="auto", help="XLA for the compiled estimator")
    p.add_argument("--reps", type=int, default=2, help="warm runs per estimator, interleaved stock/compiled")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print a JSON list instead of the table")
    args = p.parse_args(argv)

    import tensorflow as tf

    from sercore.estimator import make_classifier

    names = [a.strip() for a in args.attacks.split(",")]
    for name in names:
        parse_params(name, BENCH.get(name, {}))
    n_classes = 5
    model = fixed_model(args.width, n_classes, args.seed, args.epochs)
    x, y = synthetic(args.n, n_classes, np.random.default_rng(args.seed + 1))
    clip = (float(np.floor(x.min())), float(np.ceil(x.max())))
    jit = None if args.jit == "auto" else args.jit == "on"
    device = "gpu" if tf.config.list_physical_devices("GPU") else "cpu"
    load0 = os.getloadavg()[0]
    unit = unit_costs(model, n_classes, clip, x, y, args.batch_size)
    results = []
    if not args.json:
        print(f"# device {device}, width {args.width}, n {args.n}, batch {args.batch_size}, "
              f"{'paper' if args.paper else 'bench'} settings, jit {args.jit}, warm runs {args.reps} interleaved, "
              f"load average {load0:.1f} at start")
        print(f"# one evaluation at the best batch: forward {unit['F'][0] * 1e3:.2f} ms/sample (batch {unit['F'][1]}),"
              f" forward+backward {unit['G'][0] * 1e3:.2f} ms/sample (batch {unit['G'][1]})")
        print(f"{'attack':9s} {'stock_s':>8s} {'compiled_s':>10s} {'ratio':>6s} {'acc_stock':>9s} {'acc_comp':>8s} "
              f"{'cold_stock':>10s} {'cold_comp':>9s} {'evals_F':>9s} {'evals_G':>8s} {'ideal_s':>8s} "
              f"{'eff_stock':>9s} {'eff_comp':>8s}")
    for name in names:
        params = parse_params(name, {} if args.paper else BENCH.get(name, {}))
        ests = {kind: make_classifier(model, n_classes, clip, compiled=kind == "compiled", max_batch=args.batch_size,
                                      jit_compile=jit) for kind in ("stock", "compiled")}
        attacks = {k: ATTACKS[name].build(e, params, args.batch_size) for k, e in ests.items()}
        times: dict[str, list[float]] = {"stock": [], "compiled": []}
        adv: dict[str, np.ndarray] = {}
        evals: dict[str, dict] = {}
        for _ in range(1 + args.reps):  # cold run first, then warm runs, stock and compiled interleaved
            for kind in ("stock", "compiled"):
                dt, adv[kind], evals[kind] = run_attack(attacks[kind], ests[kind], x, args.seed)
                times[kind].append(dt)
        warm = {k: min(v[1:]) for k, v in times.items()}
        acc = {k: float(np.mean(ests["compiled"].predict(a).argmax(1) == y)) for k, a in adv.items()}
        ev = evals["compiled"]
        ideal = ev.get("F", 0) * unit["F"][0] + ev.get("G", 0) * unit["G"][0]
        bound = evals_bound(name, params.kwargs(), args.n, n_classes, args.batch_size)
        row = {
            "attack": name, "params": params.kwargs(),
            "stock_s": round(warm["stock"], 3), "compiled_s": round(warm["compiled"], 3),
            "ratio": round(warm["stock"] / warm["compiled"], 2),
            "acc_stock": acc["stock"], "acc_compiled": acc["compiled"],
            "stock_cold_s": round(times["stock"][0], 3), "compiled_cold_s": round(times["compiled"][0], 3),
            "cold_ratio": round(times["stock"][0] / times["compiled"][0], 2),
            "evals": ev, "evals_stock": evals["stock"], "evals_bound": bound,
            "ideal_s": round(ideal, 4),
            "efficiency_stock": round(ideal / warm["stock"], 3),
            "efficiency_compiled": round(ideal / warm["compiled"], 3),
            "stock_runs_s": [round(t, 3) for t in times["stock"]],
            "compiled_runs_s": [round(t, 3) for t in times["compiled"]],
            "n": args.n, "device": device, "load_average": round(os.getloadavg()[0], 2),
        }
        results.append(row)
        if not args.json:
            print(f"{name:9s} {row['stock_s']:8.2f} {row['compiled_s']:10.2f} {row['ratio']:6.2f} "
                  f"{row['acc_stock']:9.3f} {row['acc_compiled']:8.3f} {row['stock_cold_s']:10.2f} "
                  f"{row['compiled_cold_s']:9.2f} {ev.get('F', 0):9d} {ev.get('G', 0):8d} {ideal:8.3f} "
                  f"{row['efficiency_stock']:9.3f} {row['efficiency_compiled']:8.3f}", flush=True)
    if args.json:
        print(json.dumps({"unit_costs": {k: unit[k] for k in ("F", "G")}, "unit_table": unit["table"],
                          "load_average_start": load0, "results": results}))
    else:
        print(f"# load average {os.getloadavg()[0]:.1f} at the end; ratio = warm stock / warm compiled (best of "
              f"{args.reps}); efficiency = ideal / warm time, ideal = evaluations x best per-sample cost")
    return 0


if __name__ == "__main__":
    sys.exit(main())
