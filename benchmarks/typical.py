"""Fit each attack's `typical` (the share of its loop bound it runs) from the evaluations a real run counted.

    python benchmarks/typical.py RUN_DIR [RUN_DIR...] [--json]

The cost model prices an attack at its parameters' loop bounds (each attack class's `evals`) times `typical`,
the fraction of the early-stopping loops that runs on average. Attack shards record, per chunk, the sample
evaluations `generate` made (`chunk_evals_f` forward, `chunk_evals_g` forward+backward; sercore.attack_job). Per
configuration this prints the counted evaluations per sample beside the bound's, and the `typical` that makes
the formula give the counted number: evals(t) is affine in t, so t = (counted - evals(0)) / (evals(1) - evals(0)),
summing forward and gradient evaluations. Attacks whose formula has no t (FGSM, BIM, PGD) print '-'. With several
runs (models) the counts of one configuration are pooled, and each attack's line `pooled` fits one t over all its
configurations and models, weighted by samples: what an attack class's `typical` should be.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


COLUMNS = ("attack", "params", "batch_size", "labels", "slice", "chunk", "chunk_evals_f", "chunk_evals_g", "check",
           "domain")


def counted(run_dirs: list[Path]) -> list[dict[str, Any]]:
    """Per attack configuration (attack, params, batch): samples and counted evaluations, over every run."""
    import pandas as pd
    import pyarrow.parquet as pq

    frames = []
    for shard in sorted(s for run_dir in run_dirs for s in (run_dir / "shards" / "attack").glob("*.parquet")):
        names = set(pq.read_schema(shard).names)
        df = pd.read_parquet(shard, columns=[c for c in COLUMNS if c in names])  # not the examples' columns
        if "chunk_evals_f" not in df or ("check" in df and df["check"].notna().any()):
            continue
        if "domain" in df and (df["domain"] == "waveform").any():
            continue
        chunks = df.groupby(["slice", "chunk"]).first()
        # ART predicts the labels to attack inside generate (labels: predicted): the cost model prices that
        # forward pass with the job's own predictions, not in the attack's formula
        own = len(df) * (df.labels.iloc[0] == "predicted")
        frames.append({"attack": df.attack.iloc[0], "params": df.params.iloc[0], "batch": int(df.batch_size.iloc[0]),
                       "n": len(df), "F": float(chunks.chunk_evals_f.sum()) - own,
                       "G": float(chunks.chunk_evals_g.sum())})
    out: dict[tuple, dict[str, Any]] = {}
    for f in frames:  # a sliced job's slices, and one configuration on several models, are pooled
        key = (f["attack"], f["params"], f["batch"])
        acc = out.setdefault(key, {"attack": f["attack"], "params": f["params"], "batch": f["batch"], "n": 0,
                                   "F": 0.0, "G": 0.0})
        for k in ("n", "F", "G"):
            acc[k] += f[k]
    return list(out.values())


def fit(row: dict[str, Any], n_classes: int) -> dict[str, Any]:
    from sercore.attack_params import parse_params

    params = parse_params(row["attack"], json.loads(row["params"]))
    batch = min(row["batch"], row["n"])

    def total(t: float) -> float:
        return sum(c for _, c, _ in params.evals(n_classes, batch, t))

    per_sample = (row["F"] + row["G"]) / max(1, row["n"])
    a, b = total(0.0), total(1.0) - total(0.0)
    t = (per_sample - a) / b if abs(b) > 1e-12 else None
    return {**row, "counted_per_sample": round(per_sample, 1), "bound_per_sample": round(a + b, 1),
            "typical_fit": None if t is None else round(t, 4), "a": a * row["n"], "b": b * row["n"]}


def pooled(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Per attack: the one t that makes the formula's total over all its configurations equal the counted total."""
    out = {}
    for attack in sorted({r["attack"] for r in rows}):
        mine = [r for r in rows if r["attack"] == attack and abs(r["b"]) > 1e-12]
        if mine:
            out[attack] = round(sum(r["F"] + r["G"] - r["a"] for r in mine) / sum(r["b"] for r in mine), 4)
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run_dir", type=Path, nargs="+")
    p.add_argument("--classes", type=int, default=5, help="classes of the corpus (EmoDB and the demo: 5)")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    from sercore.attack_params import PARAMS

    rows = [fit(r, args.classes) for r in counted(args.run_dir)]
    if args.json:
        print(json.dumps({"configurations": rows, "pooled": pooled(rows)}, indent=2))
        return 0
    print(f"{'attack':10s}{'params':58s}{'n':>5s}{'counted/sample':>16s}{'bound/sample':>14s}{'fit':>8s}{'now':>6s}")
    for r in sorted(rows, key=lambda r: (r["attack"], r["params"])):
        fitted = "-" if r["typical_fit"] is None else f"{r['typical_fit']:.3f}"
        print(f"{r['attack']:10s}{r['params'][:57]:58s}{r['n']:>5d}{r['counted_per_sample']:>16.1f}"
              f"{r['bound_per_sample']:>14.1f}{fitted:>8s}{PARAMS[r['attack']].typical:>6.2f}")
    for attack, t in pooled(rows).items():
        print(f"{attack:10s}{'pooled':58s}{sum(r['n'] for r in rows if r['attack'] == attack):>5d}{'':30s}"
              f"{t:>8.3f}{PARAMS[attack].typical:>6.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
