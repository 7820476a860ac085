"""Runner benchmarks: expand + validate a 10,000-job grid, plan against 10,000 shards, reduce 10,000 shards.

    python benchmarks/runner.py            # human-readable
    python benchmarks/runner.py --json     # {"jobs": ..., "expand_s": ..., "plan_s": ..., "reduce_s": ...}

Targets: expand + validate < 2 s, reduce < 10 s. Each figure is the best of `--repeat` runs (the machine may be
shared). The shards are small attack-like tables written with pyarrow beforehand (not timed).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

# This file is named runner.py: drop its folder from the import path so `import runner` finds the package.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def grid_dict(output: Path) -> dict:
    """1 corpus x 2 protocols x 3 seeds = 6 final models, each attacked with 1,650 parameter sets -> 9,900
    attack jobs; plus the studies and tuning: 10,003 jobs with 1,650 distinct attack parameter sets."""
    eps = [round(0.001 * i, 3) for i in range(1, 1001)]
    return {
        "name": "bench",
        "output": str(output),
        "seeds": [0, 1, 2],
        "protocols": ["paper", "clean"],
        "corpora": [{"name": "synthetic"}],
        "stages": {
            "features": {},
            "tune": {"stage": [1, 2]},
            "norm_study": {"normalization": ["original", "norm_sum", "norm_max_global", "norm_max_local"],
                           "standardize": [False, True], "model": {"arch": "m0"}},
            "arch_study": {"model": {"arch": ["m0", "m1", "m2", "m3", "m4", "m5", "m6"]}},
            "train": {"model": {"arch": "final"}},
            "attack": {"limit": 64, "attacks": {"fgsm": {"eps": eps}, "bim": {"eps": eps[:650], "max_iter": 10}}},
        },
    }


def best(fn, repeat: int) -> tuple[float, object]:
    times, out = [], None
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return min(times), out


def write_shards(paths, stage: str, ids: list[str]) -> None:
    rng = np.random.default_rng(0)
    folder = paths.shard_dir(stage)
    folder.mkdir(parents=True, exist_ok=True)
    n = 8
    for job_id in ids:
        table = pa.table({
            "sample": np.arange(n), "y_true": rng.integers(0, 5, n), "y_adv": rng.integers(0, 5, n),
            "perturbation": rng.random(n), "l2": rng.random(n), "linf": rng.random(n),
            "attack": ["fgsm"] * n, "params": ['{"eps":0.1}'] * n, "dataset": ["synthetic"] * n,
            "seed": [0] * n, "job_id": [job_id] * n, "stage": [stage] * n,
            "host": ["node"] * n, "device": ["cpu"] * n, "finished_at": ["2026-01-01T00:00:00+00:00"] * n,
        })
        pq.write_table(table, folder / f"{job_id}.parquet")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from runner.grid import load_grid
    from runner.paths import RunPaths
    from runner.plan import states, write_plan
    from runner.reduce.merge import compact, merge_stage

    with tempfile.TemporaryDirectory() as tmp:
        tmp_path = Path(tmp)
        grid_file = tmp_path / "bench.yaml"
        grid_file.write_text(yaml.safe_dump(grid_dict(tmp_path / "run")))

        expand_s, grid = best(lambda: load_grid(grid_file), args.repeat)
        n_jobs = grid.count()
        paths = RunPaths(grid.output)
        write_plan(grid, paths, paths.cache)
        attack_ids = [j.id for j in grid.jobs["attack"]]
        write_shards(paths, "attack", attack_ids)

        def plan() -> dict:  # what `python -m runner plan GRID` does after parsing its arguments
            g = load_grid(grid_file)
            return states(RunPaths(g.output), {s: [j.id for j in jobs] for s, jobs in g.jobs.items()})

        t0 = time.perf_counter()
        plan()  # the first plan reads every new shard's footer (runner.shards), later ones one stat per shard
        cold_s = time.perf_counter() - t0
        plan_s, st = best(plan, args.repeat)
        assert len(st["attack"].done) == len(attack_ids)
        ids = {s: [j.id for j in jobs] for s, jobs in grid.jobs.items()}
        scan_s, _ = best(lambda: states(paths, ids), args.repeat)

        def reduce() -> int:
            result = merge_stage(paths, "attack")
            compact(paths, result)
            return result.table.num_rows

        reduce_s, rows = best(reduce, args.repeat)

    out = {"jobs": n_jobs, "shards": len(attack_ids), "expand_s": round(expand_s, 3), "plan_s": round(plan_s, 3),
           "plan_cold_s": round(cold_s, 3), "reduce_s": round(reduce_s, 3)}
    if args.json:
        print(json.dumps(out))
        return
    print(f"expand + validate {n_jobs} jobs: {expand_s:.3f} s (target < 2 s)")
    print(f"plan against {len(attack_ids)} existing shards: {plan_s:.3f} s "
          f"(of which shard/error scan {scan_s:.3f} s); first plan, checking every footer: {cold_s:.3f} s")
    print(f"reduce {len(attack_ids)} shards ({rows} rows) into results/attack.parquet: {reduce_s:.3f} s "
          "(target < 10 s)")


if __name__ == "__main__":
    main()
