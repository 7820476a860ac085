"""`sertack plan|submit|status|reduce|calibrate` (also `python -m runner ...`): the runner's command line.

User mistakes (any SertackError: bad grid, missing run folder, bad flag value) print `error: <line>` and exit 2;
a local run with failed jobs exits 1 after listing them, and so does `status` while jobs have failed.
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

from .interrupt import signals_raise
from .paths import RunPaths
from .quiet import quiet
from .readonly import nothing_to_do

MAX_REASONS = 20


def console() -> None:
    """The `sertack` console script (pyproject.toml [project.scripts]): main's status straight to the OS."""
    from sercore.cli import exit_now

    exit_now(main())


def main(argv: list[str] | None = None) -> int:
    quiet()
    args = _parser(_prog()).parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(message)s")
    try:
        with signals_raise():  # SIGTERM too ends in one line, also between jobs (runner.interrupt)
            return int(args.func(args) or 0)
    except SertackError as exc:
        lines = str(exc).splitlines() or ["(no message)"]
        for line in lines:
            print(f"error: {line}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:  # Ctrl-C or SIGTERM (runner.interrupt): one line, not a traceback
        from .interrupt import exit_line

        line, code = exit_line(exc)
        print(f"error: {line}", file=sys.stderr)
        return code
    except BrokenPipeError:  # `python -m runner plan G | head`: the reader left; not an error of ours
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def _prog() -> str:
    return "sertack" if Path(sys.argv[0]).name == "sertack" else "python -m runner"


def _parser(prog: str = "python -m runner") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description="Expand grids, run or submit jobs, merge results.")
    parser.set_defaults(prog=prog)
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)
    overrides: dict[str, Any] = {"action": "append", "default": [], "metavar": "KEY.PATH=VALUE",
                                 "help": "override a grid value (YAML)"}
    for add in (_plan_args, _calibrate_args, _submit_args, _status_args, _reduce_args):
        add(sub, overrides)
    return parser


def _plan_args(sub: Any, overrides: dict[str, Any]) -> None:
    p = sub.add_parser("plan", help="jobs per stage and how many are already done; submits nothing")
    p.add_argument("grid", type=Path)
    p.add_argument("--set", dest="overrides", **overrides)
    p.add_argument("--json", action="store_true", help="print {stage: {total, done, failed, pending, stale}}")
    p.add_argument("--estimate", action="store_true",
                   help="predicted worker-hours and wall time per stage of the jobs not done yet (and of all)")
    p.add_argument("--gpus", type=int, default=1, metavar="N", help="with --estimate: workers running at once")
    p.add_argument("--calibration", type=Path, help="with --estimate: a `calibrate` JSON (default: the shipped one)")
    p.add_argument("--executor", choices=("local", "debug", "slurm"), help="with --estimate: default the grid's")
    p.set_defaults(func=cmd_plan)


def _calibrate_args(sub: Any, overrides: dict[str, Any]) -> None:
    p = sub.add_parser("calibrate", help="measure this machine's unit costs for `plan --estimate` (a few minutes)")
    p.add_argument("--grid", action="append", default=[], type=Path, help="also measure this grid's models")
    p.add_argument("--set", dest="overrides", **overrides)
    p.add_argument("--models", default="", help="ARCH:WIDTH,... (default final:0.25,final:0.5,m0:0.25,m1:0.25)")
    p.add_argument("--batches", default="1,8,32,128", help="batch sizes timed (default 1,8,32,128)")
    p.add_argument("--out", type=Path, default=Path("calibration.json"))
    p.add_argument("--json", action="store_true", help="also print the calibration")
    p.set_defaults(func=_cmd_calibrate)


def _submit_args(sub: Any, overrides: dict[str, Any]) -> None:
    p = sub.add_parser("submit", help="run (local, debug) or submit (slurm) the jobs not yet done")
    p.add_argument("grid", type=Path)
    p.add_argument("--set", dest="overrides", **overrides)
    p.add_argument("--executor", choices=("local", "debug", "slurm"), help="default: the grid's `executor`")
    p.add_argument("--stage", action="append", help="only this stage (repeatable)")
    p.add_argument("--profile", type=Path, metavar="PATH",
                   help="Slurm site profile (slurm/profiles/*.yaml); the same as --set profile=PATH")
    p.add_argument("--dry-run", action="store_true",
                   help="list each job that would run and why (and the sbatch text) without running anything")
    p.add_argument("--force", action="append", default=[], metavar="STAGE",
                   help="redo this stage's finished jobs and their dependants (repeatable)")
    p.add_argument("--rerun-stale", action="store_true",
                   help="redo the finished jobs whose shards other code made (see `status`) and their dependants")
    p.add_argument("--reduce", action="store_true",
                   help="local/debug: merge the results and build the report at the end")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--replace-grid", action="store_true",
                   help="submit a different grid into an existing run (the old grid.yaml, run.json, plan/ go to "
                        "RUN/replaced/)")
    p.add_argument("--yes", action="store_true", help="submit even a grid of more than 100,000 jobs")
    p.set_defaults(func=cmd_submit)


def _status_args(sub: Any, overrides: dict[str, Any]) -> None:
    p = sub.add_parser("status", help="done / pending / running / failed per stage, why jobs failed, time left; "
                                      "exits 1 while jobs have failed")
    p.add_argument("run", type=Path, help="the run folder (the grid's `output`)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_status)


def _reduce_args(sub: Any, overrides: dict[str, Any]) -> None:
    p = sub.add_parser("reduce", help="merge shards into results/ and build report/")
    p.add_argument("run", type=Path)
    p.add_argument("--strict", action="store_true", help="exit 1 (naming the jobs) if any planned job is not ok")
    p.add_argument("--out", type=Path, metavar="DIR",
                   help="write results/ and report/ into DIR instead of the run folder (e.g. a read-only run)")
    p.add_argument("--no-wait", action="store_true", help="fail at once if another reduce of the folder runs")
    p.add_argument("--timeout", type=float, default=3600.0, metavar="S",
                   help="wait at most S seconds for another reduce of the folder (default 3600)")
    p.set_defaults(func=cmd_reduce)


def cmd_plan(args: argparse.Namespace) -> int:
    from .grid import load_grid
    from .plan import states
    from .provenance import stale_ids

    grid = load_grid(args.grid, args.overrides)
    if args.estimate:
        return _estimate(grid, args)
    paths = RunPaths(grid.output)
    st = states(paths, grid.jobs)
    counts = {s: {**v.counts(), "stale": len(stale_ids(paths, s, v.done))} for s, v in st.items()}
    if args.json:
        print(json.dumps(counts, indent=2))
    else:
        print(f"{grid.name}: {grid.count()} jobs, run folder {paths.root}")
        _table(counts, ("total", "done", "failed", "pending", "stale"))
        _stale_line(counts, args.prog)
    return 0


def _estimate(grid: Any, args: argparse.Namespace) -> int:
    from sercore.errors import ConfigError

    from .cost import estimate, load_calibration, totals
    from .dispatch import cache_dir
    from .plan import states

    if args.gpus < 1:
        raise ConfigError(f"--gpus {args.gpus}: must be at least 1")
    cal = load_calibration(args.calibration)
    executor = args.executor or grid.settings.executor
    paths = RunPaths(grid.output)
    left = {s: {e.id for e in grid.jobs[s]} - v.done for s, v in states(paths, grid.jobs).items()}
    kw = {"workers": args.gpus, "executor": executor, "cache": cache_dir(grid, paths)}
    est, rest = estimate(grid, cal, **kw), estimate(grid, cal, only=left, **kw)
    if args.json:
        print(json.dumps({"calibration": cal.label, "calibration_file": cal.source, "notes": cal.notes(),
                          "executor": executor,
                          "workers": args.gpus, "stages": {s: e.to_json() for s, e in est.items()},
                          "total": totals(est),
                          "remaining": {"stages": {s: e.to_json() for s, e in rest.items()}, "total": totals(rest)}},
                         indent=2))
        return 0
    _print_estimate(grid, args, cal.label, executor, est, rest)
    for note in cal.notes():
        print(f"note: {note}")
    return 0


def _print_estimate(grid: Any, args: argparse.Namespace, label: str, executor: str, est: dict[str, Any],
                    rest: dict[str, Any]) -> None:
    """Per stage the jobs not done yet (left/all) and their cost; totals of what is left and of everything."""
    from .cost import hms, totals

    tot, left = totals(est), totals(rest)
    print(f"{grid.name}: {left['jobs']} of {tot['jobs']} jobs left, executor {executor}, {args.gpus} worker(s)\n"
          f"calibration: {label}")
    print(f"{'stage':<11}{'left/all':>11}{'tasks':>7}{'workers':>8}{'worker-h':>10}{'wall':>10}")
    for s, e in rest.items():
        flag = "  (width extrapolated)" if e.extrapolated else ""
        print(f"{s:<11}{f'{e.jobs}/{est[s].jobs}':>11}{e.tasks:>7}{e.workers:>8}{e.worker_s / 3600:>10.3f}"
              f"{hms(e.wall_s):>10}{flag}")
    for name, t in (("remaining", left), ("total", tot)):
        print(f"{name:<11}{t['jobs']:>11}{'':>15}{t['worker_hours']:>10.3f}{hms(t['wall_hours'] * 3600):>10}")


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from .calibrate import cmd_calibrate

    return cmd_calibrate(args)


def cmd_submit(args: argparse.Namespace) -> int:
    from .dispatch import submit
    from .grid import confirm_size, load_grid
    from .labels import labels

    overrides = [*args.overrides, *([f"profile={json.dumps(str(args.profile))}"] if args.profile else [])]
    grid = load_grid(args.grid, overrides)
    confirm_size(grid, args.yes or args.dry_run)
    executor = args.executor or grid.settings.executor
    if not args.dry_run and (done := nothing_to_do(grid, args.stage)):
        print(done)  # a complete run in a read-only folder: nothing to write, so no reason to fail
        return 0
    try:
        runs = submit(grid, executor=executor, stages=args.stage, dry_run=args.dry_run, progress=not args.no_progress,
                      replace_grid=args.replace_grid, force=args.force, rerun_stale=args.rerun_stale)
    except Exception as exc:
        if executor != "debug" or isinstance(exc, SertackError):
            raise
        print("error: the debug run stopped at the first failure (traceback above)", file=sys.stderr)
        return 1
    paths = RunPaths(grid.output)
    names = {s: labels(grid.jobs[s]) for s in grid.stages}
    verb = "would submit" if args.dry_run else ("submitted" if executor == "slurm" else "ran")
    for r in runs:
        print(_stage_line(r, verb, executor, args.dry_run))
        if args.dry_run:
            for jid, why in r.todo.items():
                print(f"  {names[r.stage].get(jid, r.stage)} [{jid}]: {why}")
    failures = [(r.stage, jid, why) for r in runs for jid, why in r.failures]
    _print_failures(failures, names)
    print(f"run folder: {paths.root}")
    if executor == "slurm" and not args.dry_run:
        print(f"follow with: {args.prog} status {paths.root}")
    elif args.reduce and not args.dry_run:
        print(f"report: {_reduce(paths.root) / 'index.html'}")
        print(completeness(paths)[0])
    return 1 if failures else 0


def _stage_line(r: Any, verb: str, executor: str, dry_run: bool) -> str:
    """The stage's counts, and on a second line why its jobs run (`why: 2 new, 1 failed`)."""
    ids = f" (Slurm arrays {', '.join(r.slurm_ids)})" if r.slurm_ids else ""
    extra = "" if dry_run or executor == "slurm" else f", {r.succeeded} ok, {len(r.failures)} failed"
    if r.elsewhere:
        extra += f", {r.elsewhere} run by another process meanwhile"
    if r.held:
        extra += f", {r.held} still queued/running from an earlier submission (not resubmitted)"
    line = f"{r.stage:<10} {r.total:>6} jobs, {r.already_done} already done, {verb} {r.submitted}{extra}{ids}"
    why = reason_counts(r.todo.values())
    return f"{line}\n{'':<11}why: {why}" if why else line


def reason_counts(reasons: Any) -> str:
    """`3 new, 1 failed, 2 code changed`: why a stage's jobs run, by kind (the text before `:` or ` (`)."""
    kinds: dict[str, int] = {}
    for why in reasons:
        kind = str(why).split(":")[0].split(" (")[0]
        kinds[kind] = kinds.get(kind, 0) + 1
    return ", ".join(f"{n} {k}" for k, n in kinds.items())


def cmd_status(args: argparse.Namespace) -> int:
    from .status import run_progress, run_status

    paths = RunPaths(args.run)
    report = run_status(paths)
    failed = sum(v["failed"] for v in report.values())
    if args.json:
        print(json.dumps(report, indent=2))
        return 1 if failed else 0
    counts = {s: {k: v[k] for k in ("total", "done", "pending", "running", "failed", "stale")}
              for s, v in report.items()}
    _table(counts, ("total", "done", "pending", "running", "failed", "stale"))
    _print_failures([(s, jid, why) for s, v in report.items() for jid, why in v["failures"].items()],
                    {s: v["labels"] for s, v in report.items()})
    for stage, v in report.items():
        if v["unplanned"]:
            print(f"{stage}: {len(v['unplanned'])} shard(s) not in the plan (ignored by reduce): "
                  f"{', '.join(v['unplanned'][:MAX_REASONS])}")
    _chunk_lines(report, paths)
    from .trace import recent_lines

    for line in recent_lines(paths, list(report)):
        print(line)
    _stale_line(counts, args.prog)
    for line in _progress_lines(run_progress(paths, report), paths, args.prog):
        print(line)
    return 1 if failed else 0


def _chunk_lines(report: dict[str, Any], paths: RunPaths) -> None:
    """Unfinished attack jobs with persisted chunks: how far each got."""
    chunks = report.get("attack", {}).get("chunks", {})
    if not chunks:
        return
    from .labels import labels
    from .plan import read_stage

    names = labels(read_stage(paths, "attack"), only=chunks)
    print(f"{len(chunks)} unfinished attack job(s) with persisted chunks:")
    for jid, (n, total) in list(chunks.items())[:MAX_REASONS]:
        print(f"  {names.get(jid, 'attack')} [{jid}]: {n}{f'/{total}' if total else ''} chunks")


def _progress_lines(p: Any, paths: RunPaths, prog: str) -> list[str]:
    from .cost import hms

    rate = f"{p.jobs_per_hour:.1f} jobs/h" if p.jobs_per_hour else "n/a (fewer than 2 finished jobs)"
    eta = "done" if p.eta_s == 0 else (f"{hms(p.eta_s)} at that rate" if p.eta_s is not None else "unknown")
    lines = [f"elapsed: {hms(p.elapsed_s) if p.elapsed_s is not None else 'unknown'} since the first submit; "
             f"throughput: {rate}; time left: {eta}"]
    if p.report is None:
        lines.append(f"report: none yet ({prog} reduce {paths.root})")
    elif p.stale_report:
        lines.append(f"report: {p.report} (stale: {p.stale_report} shard(s) finished after it; "
                     f"{prog} reduce {paths.root})")
    else:
        lines.append(f"report: {p.report} (up to date)")
    return lines


def _stale_line(counts: dict[str, dict[str, int]], prog: str) -> None:
    stale = sum(c.get("stale", 0) for c in counts.values())
    if stale:
        from .provenance import code_hash

        print(f"{stale} finished job(s) were made by other code than this one (code {code_hash()}); "
              f"`{prog} submit GRID --rerun-stale` redoes them")


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


def _print_failures(failures: list[tuple[str, str, Any]], names: dict[str, dict[str, str]] | None = None) -> None:
    """`  <label> [<id>]: <reason>` per failed job, at most MAX_REASONS."""
    if not failures:
        return
    print(f"{len(failures)} failed job(s):")
    for stage, jid, why in failures[:MAX_REASONS]:
        print(f"  {(names or {}).get(stage, {}).get(jid, stage)} [{jid}]: {why}")
    if len(failures) > MAX_REASONS:
        print(f"  ... and {len(failures) - MAX_REASONS} more (see errors/ in the run folder)")
