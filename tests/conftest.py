"""Shared fixtures: where the real EmoDB lives, a per-session cache, markers' skip rules."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# The dev cluster from slurm/dev-cluster/up.sh, when it is up and SLURM_CONF was not exported.
_DEV_SLURM_CONF = Path(os.environ.get("SLURM_ROOT", "/tmp/sertack-slurm")) / "etc" / "slurm.conf"
if "SLURM_CONF" not in os.environ and _DEV_SLURM_CONF.is_file():
    os.environ["SLURM_CONF"] = str(_DEV_SLURM_CONF)


def _emodb_root() -> Path | None:
    for cand in (os.environ.get("EMODB_ROOT"), REPO.parent / "shared" / "data" / "emodb"):
        if cand and Path(cand).is_dir() and any(Path(cand).glob("*.wav")):
            return Path(cand)
    return None


@pytest.fixture(scope="session")
def emodb_root() -> Path:
    root = _emodb_root()
    if root is None:
        pytest.skip("real EmoDB not found: set EMODB_ROOT or place it at ../shared/data/emodb")
    return root


@pytest.fixture(scope="session")
def cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One feature/synthetic cache for the whole session so stores are built once."""
    path = tmp_path_factory.mktemp("sertack-cache")
    os.environ["SERTACK_CACHE"] = str(path)
    return path


def slurm_available() -> str | None:
    """None when a Slurm controller answers, else the reason to skip."""
    if shutil.which("sbatch") is None:
        return "Slurm client tools not installed (make slurm-up installs and starts the dev cluster)"
    try:
        subprocess.run(["scontrol", "ping"], check=True, capture_output=True, timeout=10)
    except (subprocess.SubprocessError, OSError):
        return "no Slurm controller answers `scontrol ping` (make slurm-up; export SLURM_CONF)"
    return None


def container_available() -> str | None:
    """None when apptainer runs here and SERTACK_TEST_IMAGE names a built image, else the reason to skip."""
    if shutil.which("apptainer") is None:
        return "apptainer not on PATH (as root: bash containers/install-apptainer.sh, which `make test` runs)"
    image = os.environ.get("SERTACK_TEST_IMAGE")
    if not image:
        return "SERTACK_TEST_IMAGE not set (make test builds the image as root: bash containers/build-image.sh)"
    if not Path(image).is_file():
        return f"SERTACK_TEST_IMAGE={image}: no such image (bash containers/build-image.sh builds it)"
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    no_container = container_available() if any("container" in item.keywords for item in items) else None
    for item in items:
        if "container" in item.keywords and no_container:
            item.add_marker(pytest.mark.skip(reason=no_container))
    reason = None
    checked = False
    for item in items:
        if "slurm" in item.keywords:
            if not checked:
                reason, checked = slurm_available(), True
            if reason:
                item.add_marker(pytest.mark.skip(reason=reason))
