"""Per-stage Slurm resources and per-site profiles (validated, frozen; unknown keys rejected)."""

from __future__ import annotations

from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from sercore.strict import StrictNumbers, pydantic_problems


class Resources(StrictNumbers):
    """What one job of a stage asks Slurm for. GPU stages get --gpus-per-task."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    gpus: int = Field(0, ge=0)
    cpus: int = Field(1, ge=1)
    mem: str = "4G"  # Slurm syntax: 500M, 16G
    time: int = Field(60, ge=1)  # minutes
    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    constraint: str | None = None
    array_parallelism: int = Field(64, ge=1)  # max simultaneously running tasks of one array
    # jobs of this stage run one after another in one array task and one process (runner/pack.py)
    pack: int = Field(1, ge=1)


class SiteProfile(BaseModel):
    """Site specifics kept out of grids: module loads, environment, extra #SBATCH keys.

    Loaded from slurm/profiles/<name>.yaml; see slurm/profiles/example.yaml.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    setup: tuple[str, ...] = ()  # shell lines before srun (module load apptainer, export ...)
    env: dict[str, str] = Field(default_factory=dict)
    sbatch: dict[str, str | int] = Field(default_factory=dict)  # additional #SBATCH parameters
    python: str | None = None  # python on the compute nodes when no container (default: this interpreter)
    max_array_size: int | None = Field(None, ge=1)  # override of `scontrol show config` MaxArraySize
    # seconds before the time limit that Slurm sends USR2 so submitit can requeue (capped at half the limit)
    signal_delay_s: int = Field(90, ge=1)


def load_profile(path: str | Path | None) -> SiteProfile:
    """Read a profile YAML (None -> empty profile)."""
    if path is None:
        return SiteProfile()
    import yaml
    from pydantic import ValidationError

    from sercore.errors import ConfigError

    try:
        with open(path, encoding="utf-8") as fh:
            data = yaml.safe_load(fh) or {}
        return SiteProfile.model_validate(data)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read site profile ({exc.strerror})") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    except ValidationError as exc:
        valid = ", ".join(SiteProfile.model_fields)
        raise ConfigError(f"{pydantic_problems(exc, str(path))[0]} (valid keys: {valid})") from exc
