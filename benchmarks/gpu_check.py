"""GPU check: train the paper's full-width final model on real EmoDB, time every attack, write a calibration.

    python benchmarks/gpu_check.py --root /data/emodb --out gpu-check        # on a GPU node: about 8 minutes
    python benchmarks/gpu_check.py --size tiny --corpus synthetic --out /tmp/x   # anywhere, ~2 min on a CPU
    SERTACK_GPU_CHECK_SIZE=tiny python benchmarks/gpu_check.py ...               # same as --size tiny

What it does, in one process: prints the device (TensorFlow's view, and `nvidia-smi -L` when present); builds
the corpus's feature store (the paper's 8 augmentations) and trains the final CNN-BiLSTM at width 1.0 for
`--epochs` epochs (EmoDB's tuned values, paper Table 20); times each attack with the paper's settings (the
registry defaults: each paper sweep's first value) on the whole test split, chunk by chunk, stopping an attack
when its `--budget-s` is spent (the time for the whole split is then extrapolated from the attacked samples and
flagged `extrapolated`); measures this machine's unit costs (`runner.calibrate`) and writes them to
OUT/calibration.json, so `python -m runner plan GRID --estimate --calibration OUT/calibration.json` uses them;
and prints, per attack, the measured (or extrapolated) seconds for the test split, what the cost model predicts
for it from the new calibration, and the paper's Table 44 EmoDB seconds (TITAN V; the paper timed its
best-performing configuration of each attack, which is not always the first value of its sweep).
Everything goes to OUT/gpu_check.json. `--size tiny` shrinks model, epochs, attack loops and the test split so
the same code runs on a CPU in tests.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Run as a script, this folder comes first on sys.path and its runner.py would shadow the runner package.
sys.path[:] = [p for p in sys.path if os.path.abspath(p or ".") != os.path.dirname(os.path.abspath(__file__))]

# Paper Table 44, EmoDB column: execution time in seconds of the best-performing configuration (TITAN V).
PAPER_TABLE44_EMODB_S = {"fgsm": 1.272, "bim": 24.962, "deepfool": 7.520, "jsma": 225.941, "cw_l2": 4230.925,
                         "pixel": 1436.918, "boundary": 623.448}
# Samples per persisted chunk: the batched attacks at the paper's batch, the per-sample loops in small steps so
# the time budget can stop them early (attacks not listed: 64).
CHUNK = {"fgsm": 256, "bim": 256, "deepfool": 256, "jsma": 16, "cw_l2": 64, "cw_linf": 1, "pixel": 2, "boundary": 2}
# --size tiny: short loops on 4 test samples (JSMA: 0.2 % of the 33,408 features, ~33 saliency steps per sample)
TINY_PARAMS = {"bim": {"max_iter": 3}, "pgd": {"max_iter": 3}, "deepfool": {"max_iter": 2}, "jsma": {"gamma": 0.002},
               "cw_l2": {"binary_search_steps": 1, "max_iter": 2}, "cw_linf": {"max_iter": 1, "largest_const": 0.01},
               "pixel": {"th": 1, "max_iter": 1}, "boundary": {"max_iter": 2, "num_trial": 1, "sample_size": 2,
                                                                  "init_size": 5},
               "square": {"max_iter": 5}}


def device_lines() -> list[str]:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    lines = [f"tensorflow {tf.__version__}; GPUs: {len(gpus)}"]
    for g in gpus:
        lines.append(f"  {g.name}: {tf.config.experimental.get_device_details(g)}")
    if shutil.which("nvidia-smi"):
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True)
        lines += [f"  {line}" for line in out.stdout.splitlines()]
    if not gpus:
        lines.append(f"  no GPU: running on CPU ({os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f})")
    return lines


def train(args: argparse.Namespace, cache: Path, work: Path) -> tuple:
    """The final model on the corpus (paper protocol); returns (job, prepared data, keras model, row)."""
    import keras

    from sercore.data import prepare
    from sercore.specs import CorpusSpec, DataSpec, FeatureSettings, ModelSpec, TrainJob, TrainSettings
    from sercore.train import train_prepared

    tiny = args.size == "tiny"
    if args.corpus == "synthetic":
        corpus = CorpusSpec(name="synthetic", synthetic_per_class=2 if tiny else 8)
    else:
        corpus = CorpusSpec(name="emodb", root=str(args.root))
    spec = DataSpec(corpus=corpus, features=FeatureSettings(augment=not tiny), protocol="paper")
    job = TrainJob(data=spec, model=ModelSpec(arch="final", width=0.125 if tiny else 1.0, dropout=0.3,
                                              lstm_dropout=0.2, lstm_units=8 if tiny else 256),
                   train=TrainSettings(epochs=args.epochs, batch_size=32, learning_rate=1e-3))
    t0 = time.perf_counter()
    data = prepare(spec, cache, progress=False)
    prep_s = time.perf_counter() - t0
    row = train_prepared(job, data, work)
    model = keras.models.load_model(work / "model.keras", compile=False)
    return job, data, model, {**row, "prepare_s": round(prep_s, 2)}


def time_attack(name: str, params: dict, job, data, model, budget_s: float, limit: int | None) -> dict:
    """Attack the test split chunk by chunk until done or over budget; seconds inside generate and accuracy."""
    import numpy as np

    from sercore.attack_job import _Attacker, chunk_plan
    from sercore.specs import AttackJob

    attack_job = AttackJob(target=job, attack=name, params=params, chunk_size=CHUNK.get(name, 64), limit=limit)
    plan = chunk_plan(len(data.x_test), attack_job)
    n_total = sum(len(idx) for _, idx in plan)
    t0 = time.perf_counter()
    attacker = _Attacker(attack_job, model, len(data.classes), tuple(data.clip_values))
    setup_s = time.perf_counter() - t0
    gen_s, done, correct, clean = 0.0, 0, 0, 0
    for chunk, idx in plan:
        x = np.asarray(data.x_test[idx], dtype=np.float32)
        y = np.asarray(data.y_test[idx], np.int64)
        _, rows, g = attacker.run(x, y, chunk)
        gen_s += g
        done += len(idx)
        correct += int((rows["y_adv"] == y).sum())
        clean += int((rows["y_clean"] == y).sum())
        if gen_s >= budget_s:
            break
    full = gen_s / done * n_total
    return {"attack": name, "params": params, "samples": done, "test_samples": n_total,
            "generate_s": round(gen_s, 3), "test_split_s": round(full, 3), "extrapolated": done < n_total,
            "accuracy_clean": clean / done, "accuracy_adv": correct / done, "setup_s": round(setup_s, 3),
            "evals": dict(attacker.estimator.evals), "chunk_size": CHUNK.get(name, 64)}


def predicted_s(name: str, params: dict, job, n_test: int, cal_path: Path, limit: int | None) -> float:
    """The cost model's seconds inside generate for this attack on the test split (no fixed costs)."""
    from runner import cost
    from sercore.specs import AttackJob

    cal = cost.load_calibration(cal_path)
    attack_job = AttackJob(target=job, attack=name, params=params, chunk_size=CHUNK.get(name, 64), limit=limit)
    m, _ = cal.model("final", job.model.width)
    n = min(n_test, limit or n_test)
    batch = min(attack_job.batch_size, attack_job.chunk_size, n)
    evals = [("F", 1.0, batch), *cost.attack_evals(name, params, len(job.data.corpus.kept_emotions), batch)]
    return n * sum(c * m.per_sample(kind, b) for kind, c, b in evals)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", choices=["full", "tiny"], default=os.environ.get("SERTACK_GPU_CHECK_SIZE", "full"))
    p.add_argument("--corpus", choices=["emodb", "synthetic"], default="emodb")
    p.add_argument("--root", type=Path, default=os.environ.get("EMODB_ROOT"), help="EmoDB folder (or $EMODB_ROOT)")
    p.add_argument("--out", type=Path, default=Path("gpu-check"))
    p.add_argument("--epochs", type=int, default=None, help="training epochs (full 3, tiny 1)")
    p.add_argument("--budget-s", type=float, default=None, help="seconds of generate per attack (full 35, tiny 2)")
    p.add_argument("--attacks", default=None, help="comma-separated registry names (default all)")
    args = p.parse_args(argv)
    tiny = args.size == "tiny"
    args.epochs = args.epochs or (1 if tiny else 3)
    budget = args.budget_s if args.budget_s is not None else (2.0 if tiny else 35.0)
    if args.corpus == "emodb" and (args.root is None or not Path(args.root).is_dir()):
        print(f"error: --root {args.root}: EmoDB folder not found (or use --corpus synthetic)", file=sys.stderr)
        return 2
    t_start = time.perf_counter()
    for line in device_lines():
        print(line, flush=True)

    from runner.calibrate import calibrate
    from sercore.attacks import ATTACKS, validate_params
    from sercore.io import write_json

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    job, data, model, row = train(args, out / "cache", out / "model")
    print(f"trained final width {job.model.width} on {job.data.corpus.name}: {len(data.x_train)} train / "
          f"{len(data.x_test)} test segments, {row['epochs_run']} epochs in {row['train_s']:.1f} s "
          f"(data {row['prepare_s']:.1f} s), test accuracy {row.get('accuracy', float('nan')):.3f}", flush=True)
    limit = 4 if tiny else None
    softmax_ok = [n for n, m in ATTACKS.items() if not m.needs_logits]  # the check's model ends in a softmax
    names = [a.strip() for a in args.attacks.split(",")] if args.attacks else softmax_ok
    timings = []
    for name in names:
        params = validate_params(name, TINY_PARAMS.get(name, {}) if tiny else {})
        r = time_attack(name, params, job, data, model, budget, limit)
        timings.append(r)
        print(f"{name:9s} {r['samples']:4d}/{r['test_samples']:<4d} samples  generate {r['generate_s']:9.2f} s  "
              f"test split {r['test_split_s']:10.1f} s{' (extrapolated)' if r['extrapolated'] else ''}  "
              f"accuracy {r['accuracy_clean']:.3f} -> {r['accuracy_adv']:.3f}", flush=True)
    print("calibrating the cost model ...", flush=True)
    cal = calibrate([("final", job.model.width)], [1, 8] if tiny else [1, 32, 128, 256], progress=lambda m: None,
                    quick=tiny)
    cal_path = out / "calibration.json"
    write_json(cal_path, cal)
    print(f"\n{'attack':9s} {'measured_s':>11s} {'cost_model_s':>12s} {'paper_T44_s':>11s}  "
          "(test split, generate only)")
    for r in timings:
        r["cost_model_s"] = round(predicted_s(r["attack"], r["params"], job, r["test_samples"], cal_path, limit), 3)
        paper = PAPER_TABLE44_EMODB_S.get(r["attack"])
        print(f"{r['attack']:9s} {r['test_split_s']:11.1f} {r['cost_model_s']:12.1f} "
              f"{paper if paper is not None else float('nan'):11.1f}")
    total = time.perf_counter() - t_start
    report = {"device": device_lines(), "size": args.size, "corpus": job.data.corpus.name, "train": row,
              "attacks": timings, "calibration": str(cal_path), "paper_table44_emodb_s": PAPER_TABLE44_EMODB_S,
              "total_s": round(total, 1)}
    write_json(out / "gpu_check.json", report)
    print(f"\nwrote {out / 'gpu_check.json'} and {cal_path} in {total:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
