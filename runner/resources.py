"""Per-stage Slurm resources and per-site profiles (validated, frozen; unknown keys rejected).

Every string here ends up in the sbatch script, one `#SBATCH` or shell line each: a newline in a partition
name would end its line and turn the rest into script text, so control characters are refused, env keys must
be shell identifiers (a crafted key would run as shell) and extra #SBATCH keys must be option names.
"""

from __future__ import annotations

import re
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator

from sercore.strict import StrictNumbers, pydantic_problems

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_OPTION = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")


def one_line(value: str) -> str:
    """A value that must stay on its script line: no newline, tab or other control character."""
    if _CONTROL.search(value):
        raise ValueError(f"must not contain newlines or control characters (got {value!r})")
    return value


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

    @field_validator("mem", "partition", "account", "qos", "constraint")
    @classmethod
    def _one_line(cls, v: str | None) -> str | None:
        return None if v is None else one_line(v)


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

    @field_validator("setup")
    @classmethod
    def _setup_lines(cls, v: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(one_line(line) for line in v)

    @field_validator("env")
    @classmethod
    def _env_names(cls, v: dict[str, str]) -> dict[str, str]:
        for key, value in v.items():
            if not _IDENTIFIER.fullmatch(key):
                raise ValueError(f"key {key!r} is not a shell variable name (letters, digits, '_'; not a digit first)")
            if "\x00" in value:
                raise ValueError(f"{key}: must not contain a NUL character")
        return v

    @field_validator("sbatch")
    @classmethod
    def _sbatch_options(cls, v: dict[str, str | int]) -> dict[str, str | int]:
        for key, value in v.items():
            if not _OPTION.fullmatch(key):
                raise ValueError(f"key {key!r} is not an sbatch option name (letters, digits, '-', '_')")
            if isinstance(value, str):
                one_line(value)
        return v

    @field_validator("python")
    @classmethod
    def _python(cls, v: str | None) -> str | None:
        return None if v is None else one_line(v)


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
