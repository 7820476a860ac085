"""logs/<stage>/submitted.json: the Slurm task of every job of the latest submissions (`RunPaths.submitted`).

    {"arrays": ["123", "130"], "jobs": {"<job id>": "123_4", ...}}

Written by the Slurm executor after each stage's submission (latest task per job wins); read by the next
submission (tasks still queued are not submitted twice) and by `status` (running, pending, ended by Slurm).
"""

from __future__ import annotations

import json
from typing import Any

from sercore.io import write_json

from .paths import RunPaths


def read_submitted(paths: RunPaths, stage: str) -> dict[str, Any]:
    """The stage's record, {} before its first Slurm submission."""
    try:
        return json.loads(paths.submitted(stage).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}


def record_submitted(paths: RunPaths, stage: str, ids: dict[str, str]) -> None:
    """Merge this submission's {job id: Slurm task id} into the stage's record."""
    jobs = {**read_submitted(paths, stage).get("jobs", {}), **ids}
    arrays = sorted({t.split("_")[0] for t in jobs.values()}, key=int)
    write_json(paths.submitted(stage), {"arrays": arrays, "jobs": jobs})
