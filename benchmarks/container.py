"""Apptainer overhead: the image's start time, and the same jobs' wall time bare vs inside the image.

    python benchmarks/container.py IMAGE [--repeat 3] [--json]

Start: `python -c pass` bare (this interpreter) vs `apptainer exec [--nv] IMAGE python -c pass`.
Jobs: the tiny synthetic grid's features, train and first attack job (tests/runner/tiny.py), each run by
`runner.worker.run_one` in a fresh process, bare and in the image, interleaved (bare, image, bare, image, ...)
so load drift on a shared machine hits both alike. The job's shard and artefacts (and, for features, the
feature cache) are removed before each run, so every run does the same work. Prints medians and image/bare
ratios.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

# The repository root, so `tests.runner.tiny` (the grid the container tests run) imports from a checkout.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def timed(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    return time.perf_counter() - t0


def run_job_cmd(run: Path, stage: str, job_id: str) -> list[str]:
    code = f"from runner.worker import run_one; run_one({str(run)!r}, {stage!r}, {job_id!r})"
    return ["python", "-c", code]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("image", type=Path)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    from runner.paths import RunPaths
    from runner.plan import read_meta
    from tests.runner.tiny import cli, tiny_grid

    image = str(args.image.resolve())
    exec_ = ["apptainer", "exec", image]
    result: dict[str, dict[str, float]] = {}
    start = {"bare": [], "image": [], "image --nv": []}
    for _ in range(max(args.repeat, 5)):
        start["bare"].append(timed([sys.executable, "-c", "pass"]))
        start["image"].append(timed([*exec_, "python", "-c", "pass"]))
        start["image --nv"].append(timed(["apptainer", "exec", "--nv", image, "python", "-c", "pass"]))
    result["start_s"] = {k: statistics.median(v) for k, v in start.items()}

    with tempfile.TemporaryDirectory(prefix="sertack-bench-ctr-") as tmp:
        run = Path(tmp) / "run"
        grid = Path(tmp) / "g.yaml"
        grid.write_text(yaml.safe_dump(tiny_grid("bench-ctr", run)))
        cli("submit", str(grid), "--executor", "local", "--no-progress", ok=(0,))  # upstream shards for all jobs
        paths = RunPaths(run)
        cache = Path(read_meta(paths)["cache"])
        plan = {s: [json.loads(line)["id"] for line in paths.plan(s).read_text().splitlines()]
                for s in ("features", "train", "attack")}
        for stage, ids in plan.items():
            job = ids[0]
            times: dict[str, list[float]] = {"bare": [], "image": []}
            for _ in range(args.repeat):
                for mode in ("bare", "image"):
                    paths.shard(stage, job).unlink(missing_ok=True)
                    shutil.rmtree(paths.artefacts(stage, job), ignore_errors=True)
                    if stage == "features":
                        shutil.rmtree(cache, ignore_errors=True)
                    cmd = run_job_cmd(run, stage, job)
                    cmd = [sys.executable, *cmd[1:]] if mode == "bare" else [*exec_, *cmd]
                    times[mode].append(timed(cmd))
            bare, img = statistics.median(times["bare"]), statistics.median(times["image"])
            result[stage] = {"bare_s": bare, "image_s": img, "ratio": img / bare, "overhead_s": img - bare}

    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    s = result["start_s"]
    print(f"start (median of {max(args.repeat, 5)}): python -c pass bare {s['bare']:.2f} s, "
          f"in the image {s['image']:.2f} s, with --nv {s['image --nv']:.2f} s")
    for stage in ("features", "train", "attack"):
        r = result[stage]
        print(f"{stage:<9} job (median of {args.repeat}): bare {r['bare_s']:.1f} s, image {r['image_s']:.1f} s, "
              f"ratio {r['ratio']:.2f}, overhead {r['overhead_s']:+.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
