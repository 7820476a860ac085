"""Apptainer wrapping of the job's python (submitit's `python` override). Optional: `container: none`."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class ContainerSpec(BaseModel):
    """`container:` in a grid. Absent or `none` runs bare."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    image: str  # path to the .sif built from containers/sertack.def
    apptainer: str = "apptainer"  # binary name or path (singularity works too)
    binds: tuple[str, ...] = ()  # extra host paths; the run folder, cache and corpus roots are bound automatically
    nv: bool = True  # --nv: expose the host's NVIDIA driver
    args: tuple[str, ...] = ()  # further `apptainer exec` options
