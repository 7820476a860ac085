"""Apptainer wrapping of the job's python (submitit's `python` override). Optional: `container: none`.

A Slurm job then runs `srun ... apptainer exec --nv --bind <run folder>,<cache>,<data roots>,... IMAGE python
-u -m submitit.core._submit <folder>`. Why each piece:
- every path a job reads or writes is bound at the same absolute path, because submitit's pickles and logs
  name absolute paths;
- Apptainer passes the host environment (the step's SLURM_*, SUBMITIT_*, CUDA_VISIBLE_DEVICES, SERTACK_*)
  into the container by default, so options that clean it (`--cleanenv`, `--containall`) are refused;
- submitit requeues a timed-out job by calling `scontrol requeue` from inside the job, so the Slurm client,
  its libraries, the Slurm config and the munge socket are bound too (see `runner.slurm.slurm_client_binds`).
"""

from __future__ import annotations

import shlex
import shutil
from collections.abc import Iterable, Mapping
from pathlib import Path

from pydantic import BaseModel, ConfigDict, field_validator

from sercore.errors import ConfigError

# apptainer exec options that would strip the SLURM_*/SUBMITIT_* variables submitit's worker needs
_ENV_CLEANING = ("--cleanenv", "-e", "--containall", "-C")
BUILD_HINT = "apptainer build sertack.sif containers/sertack.def"


class ContainerSpec(BaseModel):
    """`container:` in a grid. Absent or `none` runs bare."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    image: str  # path to the .sif built from containers/sertack.def
    apptainer: str = "apptainer"  # binary name or path (singularity works too)
    binds: tuple[str, ...] = ()  # extra host paths; the run folder, cache and corpus roots are bound automatically
    nv: bool = True  # --nv: expose the host's NVIDIA driver
    args: tuple[str, ...] = ()  # further `apptainer exec` options
    python: str = "python"  # the interpreter inside the image that has sertack and submitit installed

    @field_validator("args")
    @classmethod
    def _keep_environment(cls, args: tuple[str, ...]) -> tuple[str, ...]:
        bad = [a for a in args if a.split("=")[0] in _ENV_CLEANING]
        if bad:
            raise ValueError(
                f"container.args: {bad[0]} would hide SLURM_*/SUBMITIT_* variables from submitit's worker; "
                "pass variables with APPTAINERENV_<NAME> in the site profile instead"
            )
        return args


def bind_list(paths: Iterable[str | Path]) -> list[str]:
    """Bind specs in first-seen order, without duplicates or folders inside another bound folder.

    A spec is `PATH` (bound at the same path) or `SRC:DST[:ro]`, both absolute; a ',' would split Apptainer's list.
    """
    specs: list[str] = []
    for raw in paths:
        spec = str(raw)
        if "," in spec:
            raise ConfigError(f"container bind {spec!r}: paths with ',' cannot be bound (apptainer splits on ',')")
        if not all(Path(part).is_absolute() for part in spec.split(":")[:2]):
            raise ConfigError(f"container bind {spec!r}: must be an absolute path (or SRC:DST, both absolute)")
        if spec not in specs:
            specs.append(spec)
    plain = [Path(s) for s in specs if ":" not in s]
    return [s for s in specs if ":" in s or not any(p != Path(s) and Path(s).is_relative_to(p) for p in plain)]


def wrap_python(container: ContainerSpec, binds: Iterable[str | Path]) -> str:
    """The shell text submitit puts where `python` would be: `apptainer exec ... IMAGE python`."""
    words = [container.apptainer, "exec"]
    if container.nv:
        words.append("--nv")
    specs = bind_list([*binds, *container.binds])
    if specs:
        words += ["--bind", ",".join(specs)]
    words += [*container.args, container.image, container.python]
    return " ".join(shlex.quote(w) for w in words)


def check_container(container: ContainerSpec | None) -> None:
    """Fail before submitting anything when the image or the apptainer binary is missing here."""
    if container is None:
        return
    if shutil.which(container.apptainer) is None:
        raise ConfigError(
            f"container.apptainer: {container.apptainer!r} not found on PATH (module load apptainer, "
            "give its full path, or set `container: none` to run bare)"
        )
    image = Path(container.image)
    if not image.is_file():
        raise ConfigError(f"container.image: {image} does not exist (build it with: {BUILD_HINT})")


def _covered(path: Path, bound: list[Path]) -> bool:
    return any(path == b or path.is_relative_to(b) for b in bound)


def check_binds(needed: Mapping[str, Path], binds: Iterable[str], user_binds: Iterable[str] = ()) -> None:
    """Fail before submitting when a job would not see a path it needs inside the image.

    `needed`: what jobs read or write, by the grid key it comes from (`output`, `cache`, `corpora[0].root`).
    A path is seen inside the image when it lies under a bound folder and so does its real location: a symlink
    out of the run folder (say `runs/x/data -> /mnt/corpora/emodb`) is followed inside the container, where
    only the bound folders exist. `user_binds` (container.binds) must exist here, or apptainer fails on the node.
    """
    specs = bind_list(binds)  # what apptainer gets: a folder inside another bound one is not bound itself
    for spec in user_binds:
        if not Path(spec.split(":")[0]).exists():
            raise ConfigError(f"container.binds: {spec.split(':')[0]} does not exist on this host")
    bound = [Path(s.split(":")[1] if ":" in s else s) for s in specs]  # SRC:DST[:ro] is seen at DST
    real = [b.resolve() for b in bound]
    shown = ", ".join(specs)
    for key, raw in needed.items():
        path, target = Path(raw).absolute(), Path(raw).resolve()
        if not _covered(path, bound):
            raise ConfigError(f"container: {key} {path} is outside every container bind ({shown}); "
                              f"add it to container.binds")
        if not _covered(target, real):
            raise ConfigError(f"container: {key} {path} resolves to {target}, which is outside every container bind "
                              f"({shown}), so jobs in the image would not find it; add {target} to container.binds")
