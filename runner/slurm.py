"""Slurm through submitit: cluster probing, the executor factory, the sbatch text, job states from sacct.

`runner.executors.SlurmArrays` calls `make_executor` once per stage (one sbatch array per chunk of at most
`max_array_size()` tasks) with that stage's `SlurmLaunch`, and `sacct_states` to poll. `sbatch_script` renders
exactly the text the executor submits for the same `SlurmLaunch`, without a cluster, for golden-file tests and
`--dry-run`. Job ids are read by submitit's own sacct parser (`SlurmInfoWatcher.read_info`).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import shlex
import shutil
import subprocess
import sys
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runner.container import ContainerSpec, check_container, wrap_python
from runner.resources import Resources, SiteProfile

__all__ = [
    "check_container",
    "executor_parameters",
    "job_python",
    "make_executor",
    "max_array_size",
    "SlurmLaunch",
    "sacct_states",
    "sbatch_script",
    "slurm_client_binds",
    "squeue_tasks",
]

log = logging.getLogger(__name__)

DEFAULT_MAX_ARRAY_SIZE = 1001  # Slurm's compiled-in default
_SACCT_TIMEOUT_S = 60


def _run(cmd: Sequence[str], timeout: float = 30) -> str | None:
    """stdout of a Slurm client command, or None when it is missing or fails (callers degrade)."""
    if shutil.which(cmd[0]) is None:
        return None
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, check=True)
    except (subprocess.SubprocessError, OSError) as exc:
        log.debug("%s failed: %s", " ".join(cmd), exc)
        return None
    return done.stdout


@functools.cache
def _config_cached() -> dict[str, str]:
    out = _run(["scontrol", "show", "config"]) or ""
    pairs = (line.split("=", 1) for line in out.splitlines() if " = " in line)
    config = {key.strip(): value.strip() for key, value in pairs}
    if not config:
        raise LookupError("no controller answered")  # not cached: ask again next time
    return config


def _config() -> dict[str, str]:
    """`scontrol show config` as a dict ({} when no controller answers). Cached once read: it never changes."""
    try:
        return _config_cached()
    except LookupError:
        return {}


def max_array_size(profile: SiteProfile | None = None) -> int:
    """Largest array submitit may send in one sbatch (indices 0..N-1 need N <= MaxArraySize)."""
    if profile is not None and profile.max_array_size is not None:
        return profile.max_array_size
    value = _config().get("MaxArraySize", "")
    if value.isdigit() and int(value) > 0:
        return int(value)
    log.warning("could not read MaxArraySize from `scontrol show config`; assuming %d", DEFAULT_MAX_ARRAY_SIZE)
    return DEFAULT_MAX_ARRAY_SIZE


def slurm_client_binds() -> list[str]:
    """Host paths a container needs so `scontrol requeue` works inside it (submitit's timeout requeue).

    The scontrol binary, Slurm's library/plugin folder, libmunge, the munge socket folder and the folder of
    the Slurm config. Only paths that exist here are returned (login and compute nodes share a layout).
    Also the host's /etc/passwd and /etc/group, read-only: scontrol resolves the config's SlurmUser (and the
    job's user) by name and stops with "Invalid user for SlurmUser" where the image lacks that account.
    """
    found: list[Path] = []
    scontrol = shutil.which("scontrol")
    if scontrol is None:
        return []
    found.append(Path(scontrol).resolve())
    plugin_dir = _config().get("PluginDir")
    libs = _run(["ldd", scontrol]) or ""
    if plugin_dir:
        libs += _run(["ldd", str(Path(plugin_dir) / "auth_munge.so")]) or ""
        found.append(Path(plugin_dir))
    specs: list[str] = []
    for match in re.finditer(r"=>\s+(\S*lib(?:slurm|munge)\S*)", libs):
        lib = Path(match.group(1))
        if "slurm" in lib.name:
            found.append(lib.resolve().parent)
        elif lib.exists():
            # bind the real file under its soname (libmunge.so.2), which is what the loader looks up
            specs.append(f"{lib.resolve()}:{lib.parent.resolve() / lib.name}")
    found.append(Path("/run/munge").resolve())
    conf = os.environ.get("SLURM_CONF") or _config().get("SLURM_CONF") or "/etc/slurm/slurm.conf"
    found.append(Path(conf).resolve().parent)
    specs += [f"{p}:{p}:ro" for p in ("/etc/passwd", "/etc/group") if Path(p).is_file()]
    return list(dict.fromkeys([*(str(p) for p in found if p.exists()), *specs]))


def job_python(profile: SiteProfile, container: ContainerSpec | None, binds: Iterable[str | Path] = ()) -> str:
    """What submitit runs as `python`: the image's python under apptainer, else the profile's or ours."""
    if container is not None:
        return wrap_python(container, binds)
    return profile.python or shlex.quote(sys.executable)


def _setup_lines(profile: SiteProfile, container: ContainerSpec | None) -> list[str]:
    lines = list(profile.setup)
    lines += [f"export {key}={shlex.quote(value)}" for key, value in sorted(profile.env.items())]
    if container is not None:
        # Apptainer would pass these through anyway; APPTAINERENV_ also survives a site-wide cleanenv default.
        lines += [f"export APPTAINERENV_{key}={shlex.quote(value)}" for key, value in sorted(profile.env.items())]
    return lines


def executor_parameters(
    resources: Resources,
    profile: SiteProfile,
    container: ContainerSpec | None,
    job_name: str,
    *,
    dependency: str | None = None,
) -> dict[str, Any]:
    """submitit SlurmExecutor parameters (its native names) for one stage's jobs."""
    params: dict[str, Any] = {
        "job_name": job_name,
        "time": resources.time,
        # one task per job; sbatch also rejects --gpus-per-task without a task count (--nodes is not enough)
        "ntasks_per_node": 1,
        "cpus_per_task": resources.cpus,
        "mem": resources.mem,
        "array_parallelism": resources.array_parallelism,
        # USR2 this long before the limit lets submitit requeue; never more than half of a short limit
        "signal_delay_s": min(profile.signal_delay_s, resources.time * 30),
    }
    if resources.gpus > 0:
        params["gpus_per_task"] = resources.gpus
    for key in ("partition", "account", "qos", "constraint"):
        value = getattr(resources, key)
        if value is not None:
            params[key] = value
    setup = _setup_lines(profile, container)
    if setup:
        params["setup"] = setup
    if profile.sbatch:
        params["additional_parameters"] = dict(profile.sbatch)
    if dependency:
        params["dependency"] = dependency
    return params


@dataclass(frozen=True)
class SlurmLaunch:
    """Everything one stage's sbatch launch depends on, shared by the executor and its dry-run text.

    `folder`: submitit's folder (logs/<stage>). `bind_paths`: what jobs read and write besides `folder` (run
    folder, cache, corpus roots). `slurm_binds`: the Slurm client paths a container needs (None: probe this host).
    """

    folder: Path
    resources: Resources
    profile: SiteProfile
    container: ContainerSpec | None
    job_name: str
    bind_paths: Sequence[Path] = ()
    slurm_binds: Sequence[str] | None = None

    def python(self) -> str:
        """What submitit runs as `python` (inside the image when there is one, with every bind)."""
        client = slurm_client_binds() if self.slurm_binds is None else self.slurm_binds
        binds = [str(Path(self.folder).absolute()), *(str(Path(p).absolute()) for p in self.bind_paths), *client]
        return job_python(self.profile, self.container, binds)

    def parameters(self, dependency: str | None = None) -> dict[str, Any]:
        return executor_parameters(self.resources, self.profile, self.container, self.job_name, dependency=dependency)


def sbatch_script(launch: SlurmLaunch, *, map_count: int | None = None, dependency: str | None = None) -> str:
    """The sbatch file submitit would write for this launch (an array of `map_count` tasks when given)."""
    from submitit.slurm.slurm import _make_sbatch_string

    command = " ".join([launch.python(), "-u -m submitit.core._submit", shlex.quote(str(launch.folder))])
    return _make_sbatch_string(command=command, folder=launch.folder, map_count=map_count,
                               **launch.parameters(dependency))


def make_executor(launch: SlurmLaunch, *, dependency: str | None = None, max_num_timeout: int = 3) -> Any:
    """A submitit SlurmExecutor for one stage; fails early (ConfigError) if the container cannot run here.

    `dependency`: an sbatch dependency such as `afterany:123:124`.
    `max_num_timeout`: how often submitit requeues a Checkpointable job that hits its time limit.
    """
    import submitit

    check_container(launch.container)
    executor = submitit.SlurmExecutor(folder=launch.folder, max_num_timeout=max_num_timeout, python=launch.python())
    executor.update_parameters(**launch.parameters(dependency))
    return executor


def _task_states(table: str) -> dict[str, str]:
    """{task id: first word of its State, "" when none} from `JobID[|State]` lines under a header line.

    submitit's own sacct reader expands array ranges (`12_[3-5,8%2]` -> 12_3, 12_4, 12_5, 12_8)."""
    from submitit.slurm.slurm import SlurmInfoWatcher

    found = SlurmInfoWatcher().read_info(table)
    return {task: " ".join(info.get("State", "").split()[:1]) for task, info in found.items()}


def sacct_states(slurm_ids: Iterable[str]) -> dict[str, str]:
    """Latest state of every task of the given jobs/arrays (`123`, `123_4`), one sacct call; {} if unavailable.

    States are sacct's first word (`CANCELLED by 0` -> `CANCELLED`). Pending array tasks that were cancelled
    never get a row, and sacct lags the scheduler by a few seconds: poll, and treat missing ids as unknown.
    """
    wanted = list(dict.fromkeys(str(i) for i in slurm_ids))
    if not wanted:
        return {}
    bases = sorted({i.split("_")[0] for i in wanted})
    cmd = ["sacct", "--parsable2", "--allocations", "--format=JobID,State", "--jobs", ",".join(bases)]
    out = _run(cmd, timeout=_SACCT_TIMEOUT_S)
    if out is None:
        return {}
    return {task: state for task, state in _task_states(out).items() if state}


def squeue_tasks(slurm_ids: Iterable[str]) -> set[str]:
    """Tasks of the given arrays the controller still has queued or running (`123_4`), one squeue call.

    squeue asks slurmctld directly, so it sees a submission at once where sacct can lag by seconds: two
    submits back to back must not both think a just-queued task is gone. Empty set if squeue is unavailable."""
    bases = sorted({str(i).split("_")[0] for i in slurm_ids})
    if not bases:
        return set()
    out = _run(["squeue", "--noheader", "--array", "--format=%i", "--jobs", ",".join(bases)], timeout=_SACCT_TIMEOUT_S)
    return set(_task_states("JobID\n" + "\n".join((out or "").split())))
