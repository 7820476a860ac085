"""`python -m runner plan|submit|status|reduce|calibrate`: the runner's command line.

User mistakes (any SertackError: bad grid, missing run folder, bad flag value) print `error: <line>` and exit 2;
a local run with failed jobs exits 1 after listing them.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

from sercore.errors import SertackError

from .paths import RunPaths
from .readonly import nothing_to_do

MAX_REASONS = 20


def main(argv: list[str] | None = None) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        return int(args.func(args) or 0)
    except SertackError as exc:
        lines = str(exc).splitlines() or ["(no message)"]
        for line in lines:
            print(f"error: {line}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `python -m runner plan G | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m runner",
                                     description="Expand grids, run or submit jobs, merge results.")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)
    overrides: dict[str, Any] = {"action": "append", "default": [], "metavar": "KEY.PATH=VALUE",
                                 "help": "override a grid value (YAML)"}

    p = sub.add_parser("plan", help="jobs per stage and how many are already done; submits nothing")
    p.add_argument("grid", type=Path)
    p.add_argument("--set", dest="overrides", **overrides)
    p.add_argument("--json", action="store_true", help="print {stage: {total, done, failed, pending}}")
    p.add_argument("--estimate", action="store_true", help="predicted worker-hours and wall time per stage")
    p.add_argument("--gpus", type=int, default=1, metavar="N", help="with --estimate: workers running at once")
    p.add_argument("--calibration", type=Path, help="with --estimate: a `calibrate` JSON (default: the shipped one)")
    p.add_argument("--executor", choices=("local", "debug", "slurm"), help="with --estimate: default the grid's")
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("calibrate", help="measure this machine's unit costs for `plan --estimate` (a few minutes)")
    p.add_argument("--grid", action="append", default=[], type=Path, help="also measure this grid's models")
    p.add_argument("--set", dest="overrides", **overrides)
    p.add_argument("--models", default="", help="ARCH:WIDTH,... (default final:0.25,final:0.5,m0:0.25,m1:0.25)")
    p.add_argument("--batches", default="1,8,32,128", help="batch sizes timed (default 1,8,32,128)")
    p.add_argument("--out", type=Path, default=Path("calibration.json"))
    p.add_argument("--json", action="store_true", help="also print the calibration")
    p.set_defaults(func=_cmd_calibrate)

    p = sub.add_parser("submit", help="run (local, debug) or submit (slurm) the jobs not yet done")
    p.add_argument("grid", type=Path)
    p.add_argument("--set", dest="overrides", **overrides)
    p.add_argument("--executor", choices=("local", "debug", "slurm"), help="default: the grid's `executor`")
    p.add_argument("--stage", action="append", help="only this stage (repeatable)")
    p.add_argument("--dry-run", action="store_true", help="show what would run (and the sbatch text) without running")
    p.add_argument("--reduce", action="store_true",
                   help="local/debug: merge the results and build the report at the end")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--replace-grid", action="store_true",
                   help="submit a different grid into an existing run (the old grid.yaml, run.json, plan/ go to "
                        "RUN/replaced/)")
    p.set_defaults(func=cmd_submit)

    p = sub.add_parser("status", help="done / pending / running / failed per stage, and why jobs failed")
    p.add_argument("run", type=Path, help="the run folder (the grid's `output`)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("reduce", help="merge shards into results/ and build report/")
    p.add_argument("run", type=Path)
    p.add_argument("--strict", action="store_true", help="exit 1 (naming the jobs) if any planned job is not ok")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="write results/ and report/ into DIR instead of the run folder (e.g. a read-only run)")
    p.add_argument("--no-wait", action="store_true", help="fail at once if another reduce of the folder runs")
    p.add_argument("--timeout", type=float, default=3600.0, metavar="S",
                   help="wait at most S seconds for another reduce of the folder (default 3600)")
    p.set_defaults(func=cmd_reduce)
    return parser


def cmd_plan(args: argparse.Namespace) -> int:
    from .grid import load_grid
    from .plan import states

    grid = load_grid(args.grid, args.overrides)
    if args.estimate:
        return _estimate(grid, args)
    paths = RunPaths(grid.output)
    counts = {s: v.counts() for s, v in states(paths, grid.jobs).items()}
    if args.json:
        print(json.dumps(counts, indent=2))
    else:
        print(f"{grid.name}: {grid.count()} jobs, run folder {paths.root}")
        _table(counts, ("total", "done", "failed", "pending"))
    return 0


def _estimate(grid: Any, args: argparse.Namespace) -> int:
    from sercore.errors import ConfigError

    from .cost import estimate, hms, load_calibration, totals
    from .dispatch import cache_dir

    if args.gpus < 1:
        raise ConfigError(f"--gpus {args.gpus}: must be at least 1")
    cal = load_calibration(args.calibration)
    executor = args.executor or grid.settings.executor
    est = estimate(grid, cal, workers=args.gpus, executor=executor, cache=cache_dir(grid, RunPaths(grid.output)))
    tot = totals(est)
    if args.json:
        print(json.dumps({"calibration": cal.label, "calibration_file": cal.source, "executor": executor,
                          "workers": args.gpus, "stages": {s: e.to_json() for s, e in est.items()},
                          "total": tot}, indent=2))
        return 0
    print(f"{grid.name}: {tot['jobs']} jobs, executor {executor}, {args.gpus} worker(s)\ncalibration: {cal.label}")
    print(f"{'stage':<11}{'jobs':>7}{'tasks':>7}{'workers':>8}{'worker-h':>10}{'wall':>10}")
    for s, e in est.items():
        flag = "  (width extrapolated)" if e.extrapolated else ""
        print(f"{s:<11}{e.jobs:>7}{e.tasks:>7}{e.workers:>8}{e.worker_s / 3600:>10.3f}{hms(e.wall_s):>10}{flag}")
    print(f"{'total':<11}{tot['jobs']:>7}{'':>15}{tot['worker_hours']:>10.3f}{hms(tot['wall_hours'] * 3600):>10}")
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from .calibrate import cmd_calibrate

    return cmd_calibrate(args)


def cmd_submit(args: argparse.Namespace) -> int:
    from .dispatch import submit
    from .grid import load_grid

    grid = load_grid(args.grid, args.overrides)
    executor = args.executor or grid.settings.executor
    if not args.dry_run and (done := nothing_to_do(grid, args.stage)):
        print(done)  # a complete run in a read-only folder: nothing to write, so no reason to fail
        return 0
    try:
        runs = submit(grid, executor=executor, stages=args.stage, dry_run=args.dry_run, progress=not args.no_progress,
                      replace_grid=args.replace_grid)
    except Exception as exc:
        if executor != "debug" or isinstance(exc, SertackError):
            raise
        print("error: the debug run stopped at the first failure (traceback above)", file=sys.stderr)
        return 1
    paths = RunPaths(grid.output)
    verb = "would submit" if args.dry_run else ("submitted" if executor == "slurm" else "ran")
    for r in runs:
        ids = f" (Slurm arrays {', '.join(r.slurm_ids)})" if r.slurm_ids else ""
        extra = "" if args.dry_run or executor == "slurm" else f", {r.succeeded} ok, {len(r.failures)} failed"
        if r.elsewhere:
            extra += f", {r.elsewhere} run by another process meanwhile"
        if r.held:
            extra += f", {r.held} still queued/running from an earlier submission (not resubmitted)"
        print(f"{r.stage:<10} {r.total:>6} jobs, {r.already_done} already done, {verb} {r.submitted}{extra}{ids}")
    failures = [(r.stage, jid, why) for r in runs for jid, why in r.failures]
    _print_failures(failures)
    print(f"run folder: {paths.root}")
    if executor == "slurm" and not args.dry_run:
        print(f"follow with: python -m runner status {paths.root}")
    elif args.reduce and not args.dry_run:
        print(f"report: {_reduce(paths.root) / 'index.html'}")
        print(completeness(paths)[0])
    return 1 if failures else 0


def cmd_status(args: argparse.Namespace) -> int:
    from .status import run_status

    report = run_status(RunPaths(args.run))
    if args.json:
        print(json.dumps(report, indent=2))
        return 0
    counts = {s: {k: v[k] for k in ("total", "done", "pending", "running", "failed")} for s, v in report.items()}
    _table(counts, ("total", "done", "pending", "running", "failed"))
    _print_failures([(s, jid, why) for s, v in report.items() for jid, why in v["failures"].items()])
    for stage, v in report.items():
        if v["unplanned"]:
            print(f"{stage}: {len(v['unplanned'])} shard(s) not in the plan (ignored by reduce): "
                  f"{', '.join(v['unplanned'][:MAX_REASONS])}")
    return 0


def cmd_reduce(args: argparse.Namespace) -> int:
    from .reduce.report import reduce_run  # lazy: the reducer pulls in plotting

    report = reduce_run(args.run, out=args.out, wait=not args.no_wait, timeout=args.timeout)
    print(f"report: {report / 'index.html'}")
    line, problems = completeness(RunPaths(args.run) if args.out is None else RunPaths(args.out))
    print(line)
    if args.strict and problems:
        for stage, jid, state, why in problems[:MAX_REASONS]:
            print(f"error: {stage} {jid} {state}: {why}", file=sys.stderr)
        if len(problems) > MAX_REASONS:
            print(f"error: ... and {len(problems) - MAX_REASONS} more (results/status.parquet)", file=sys.stderr)
        return 1
    return 0


def completeness(paths: RunPaths) -> tuple[str, list[tuple[str, str, str, str]]]:
    """The one-line summary of results/status.parquet (written by reduce) and the planned jobs that are not ok."""
    import pandas as pd

    status = pd.read_parquet(paths.results_dir / "status.parquet")
    planned = status[status.status != "unplanned"]
    bad = planned[planned.status != "ok"]
    problems = list(bad[["stage", "job_id", "status", "reason"]].itertuples(index=False, name=None))
    extra = (status.status == "unplanned").sum()
    tail = f"; {extra} unplanned shard(s) ignored" if extra else ""
    if not problems:
        return f"complete: {len(planned)}/{len(planned)} planned jobs ok{tail}", []
    counts = ", ".join(f"{n} {s}" for s, n in bad.status.value_counts().sort_index().items())
    return f"incomplete: {len(planned) - len(bad)}/{len(planned)} planned jobs ok ({counts}){tail}", problems


def _reduce(run_dir: Path) -> Path:
    from .reduce.report import reduce_run  # lazy: the reducer pulls in plotting

    return reduce_run(run_dir)


def _table(counts: dict[str, dict[str, int]], cols: tuple[str, ...]) -> None:
    print(f"{'stage':<11}" + "".join(f"{c:>9}" for c in cols))
    for stage, c in counts.items():
        print(f"{stage:<11}" + "".join(f"{c[k]:>9}" for k in cols))


def _print_failures(failures: list[tuple[str, str, Any]]) -> None:
    if not failures:
        return
    print(f"{len(failures)} failed job(s):")
    for stage, jid, why in failures[:MAX_REASONS]:
        print(f"  {stage} {jid}: {why}")
    if len(failures) > MAX_REASONS:
        print(f"  ... and {len(failures) - MAX_REASONS} more (see errors/ in the run folder)")
