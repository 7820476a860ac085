"""The cost model against a real run: `plan --estimate` per stage, then the run, then what each stage took.

    python benchmarks/estimate.py GRID [--set KEY=VALUE]... [--calibration FILE] [--out RUN_DIR] [--json]
    python benchmarks/estimate.py GRID --out RUN_DIR --no-run     # compare with a run already done

Runs the grid with the local executor (one process per stage), so the machine should be otherwise idle. Per
stage it prints the estimate from the corpus's file count (what `plan --estimate` says before a run) and from the
segments of the built feature store (after it), both without the process's start-up (`startup_s`), against the sum of
the jobs' own `wall_s` from their shards (each job's time from its lock to its shard), and the ratio
actual / estimate. The target of issue 20 is a ratio within 0.75-1.25 per stage.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# Named like nothing in the package, but keep the package imports from this folder's siblings (runner.py).
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]


def stage_estimates(grid_file: str, overrides: list[str], calibration: str | None, store: bool) -> dict[str, float]:
    """Per stage: estimated seconds of the jobs' own work (a local process's total less its start-up); `store`:
    count segments in the run's feature store (after the run) rather than from the corpus's files (before)."""
    from runner.cost import estimate, load_calibration
    from runner.dispatch import cache_dir
    from runner.grid import load_grid
    from runner.paths import RunPaths

    grid = load_grid(grid_file, overrides)
    cal = load_calibration(calibration)
    cache = cache_dir(grid, RunPaths(grid.output)) if store else None
    est = estimate(grid, cal, executor="local", cache=cache)
    return {s: max(0.0, e.worker_s - cal.startup_s) for s, e in est.items() if e.jobs}


def stage_actuals(run_dir: Path) -> dict[str, dict[str, float]]:
    """Per stage: jobs with a shard, the sum of their wall_s, and the span from the first start to the last end."""
    from datetime import datetime

    import pyarrow.parquet as pq

    out: dict[str, dict[str, float]] = {}
    for stage_dir in sorted(p for p in (run_dir / "shards").iterdir() if p.is_dir()):
        starts, ends, total, n = [], [], 0.0, 0
        for shard in stage_dir.glob("*.parquet"):
            t = pq.read_table(shard, columns=["started_at", "wall_s"]).slice(0, 1).to_pylist()[0]
            start = datetime.fromisoformat(t["started_at"]).timestamp()
            starts.append(start)
            ends.append(start + t["wall_s"])
            total += t["wall_s"]
            n += 1
        if n:
            out[stage_dir.name] = {"jobs": n, "wall_s": total, "span_s": max(ends) - min(starts)}
    return out


def run_grid(grid_file: str, overrides: list[str]) -> float:
    cmd = [sys.executable, "-m", "runner", "submit", grid_file, "--executor", "local"]
    for o in overrides:
        cmd += ["--set", o]
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("grid")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY.PATH=VALUE")
    p.add_argument("--calibration", default=None, help="calibration JSON (default: the shipped one)")
    p.add_argument("--out", default=None, help="run folder (sets `output`); must not hold another grid's run")
    p.add_argument("--no-run", action="store_true", help="compare with the run already in the run folder")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    overrides = [*args.overrides, *([f"output={args.out}"] if args.out else [])]
    from runner.grid import load_grid

    run_dir = Path(load_grid(args.grid, overrides).output)
    before = stage_estimates(args.grid, overrides, args.calibration, store=False)
    load0 = os.getloadavg()[0]
    total = None if args.no_run else run_grid(args.grid, overrides)
    after = stage_estimates(args.grid, overrides, args.calibration, store=True)
    actual = stage_actuals(run_dir)
    result: dict[str, Any] = {"grid": args.grid, "overrides": args.overrides, "run_dir": str(run_dir),
                              "submit_s": total, "load_average": [round(load0, 2), round(os.getloadavg()[0], 2)],
                              "stages": {}}
    for stage, est in before.items():
        a = actual.get(stage, {"jobs": 0, "wall_s": float("nan"), "span_s": float("nan")})
        result["stages"][stage] = {"jobs": a["jobs"], "estimate_before_s": round(est, 1),
                                   "estimate_after_s": round(after.get(stage, est), 1),
                                   "actual_s": round(a["wall_s"], 1), "span_s": round(a["span_s"], 1),
                                   "ratio_before": round(a["wall_s"] / est, 2) if est else None,
                                   "ratio_after": round(a["wall_s"] / after[stage], 2) if after.get(stage) else None}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    print(f"{args.grid} {' '.join(args.overrides)}: run folder {run_dir}, submit "
          f"{'-' if total is None else f'{total:.0f} s'}, load average {result['load_average']}")
    print(f"{'stage':<10}{'jobs':>6}{'est. before':>13}{'est. after':>12}{'actual':>9}{'ratio':>14}")
    for stage, r in result["stages"].items():
        print(f"{stage:<10}{r['jobs']:>6}{r['estimate_before_s']:>12.0f}s{r['estimate_after_s']:>11.0f}s"
              f"{r['actual_s']:>8.0f}s{r['ratio_before']:>7}/{r['ratio_after']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
