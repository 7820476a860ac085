"""Apptainer wrapping: the exact command line (golden file), bind rules, and the early checks at submit."""

from __future__ import annotations

import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from runner.container import ContainerSpec, bind_list, check_binds, check_container, wrap_python
from sercore.errors import ConfigError

SLURM_CLIENT = [
    "/usr/bin/scontrol",
    "/usr/lib/x86_64-linux-gnu/slurm-wlm",
    "/run/munge",
    "/etc/slurm",
    "/usr/lib/x86_64-linux-gnu/libmunge.so.2.0.0:/usr/lib/x86_64-linux-gnu/libmunge.so.2",
    "/etc/passwd:/etc/passwd:ro",
    "/etc/group:/etc/group:ro",
]


def test_wrapped_command_matches_golden(golden: Callable[[str, str], None]) -> None:
    spec = ContainerSpec(image="/shared/images/sertack.sif", binds=("/scratch/corpora",))
    binds = ["/runs/demo/logs/train", "/runs/demo", "/runs/demo/cache", "/data/emodb", *SLURM_CLIENT]
    golden("apptainer_command.txt", wrap_python(spec, binds) + "\n")


def test_wrap_options_and_quoting() -> None:
    spec = ContainerSpec(image="/img dir/s.sif", apptainer="singularity", nv=False, args=("--writable-tmpfs",))
    assert wrap_python(spec, ["/runs/a"]) == "singularity exec --bind /runs/a --writable-tmpfs '/img dir/s.sif' python"


def test_bind_list_drops_duplicates_and_nested_folders() -> None:
    binds = ["/runs/x/logs", "/runs/x", "/data", "/runs/x", "/data/emodb", "/a/b:/c", "/runs/xy"]
    assert bind_list(binds) == ["/runs/x", "/data", "/a/b:/c", "/runs/xy"]


@pytest.mark.parametrize("bad", ["relative/path", "/with,comma", "/a:rel"])
def test_bind_list_rejects_unbindable_paths(bad: str) -> None:
    with pytest.raises(ConfigError, match="container bind"):
        bind_list([bad])


@pytest.mark.parametrize("arg", ["--cleanenv", "-e", "--containall", "-C"])
def test_spec_refuses_options_that_hide_slurm_variables(arg: str) -> None:
    with pytest.raises(ValidationError, match="SLURM_"):
        ContainerSpec(image="/x.sif", args=(arg,))


def _fake_binary(folder: Path, name: str) -> None:
    exe = folder / name
    exe.write_text("#!/bin/sh\nexit 0\n")
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)


def test_check_container_fails_early_without_apptainer(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    image = tmp_path / "s.sif"
    image.write_bytes(b"")
    with pytest.raises(ConfigError, match=r"container.apptainer: 'apptainer' not found on PATH"):
        check_container(ContainerSpec(image=str(image)))


def test_check_container_fails_early_without_image(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # a stand-in executable only proves the PATH lookup; nothing is run
    _fake_binary(tmp_path, "apptainer")
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(ConfigError, match=r"container.image: .*missing.sif does not exist .*apptainer build"):
        check_container(ContainerSpec(image=str(tmp_path / "missing.sif")))


def test_check_container_accepts_present_image_and_none(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_binary(tmp_path, "apptainer")
    monkeypatch.setenv("PATH", str(tmp_path))
    image = tmp_path / "s.sif"
    image.write_bytes(b"")
    assert check_container(ContainerSpec(image=str(image))) is None
    assert check_container(None) is None


def test_check_binds_accepts_paths_under_a_bind(tmp_path: Path) -> None:
    (tmp_path / "run" / "data").mkdir(parents=True)
    check_binds({"output": tmp_path / "run", "corpora[0].root": tmp_path / "run" / "data"}, [str(tmp_path / "run")])


def test_check_binds_names_a_root_that_leaves_every_bind_through_a_symlink(tmp_path: Path) -> None:
    """The root is under the bound run folder, but it is a symlink, which the container follows."""
    (tmp_path / "run").mkdir()
    (tmp_path / "elsewhere").mkdir()
    (tmp_path / "run" / "data").symlink_to(tmp_path / "elsewhere")
    needed = {"output": tmp_path / "run", "corpora[0].root": tmp_path / "run" / "data"}
    automatic = [str(p) for p in needed.values()]  # as runner.dispatch binds them
    with pytest.raises(ConfigError, match=rf"corpora\[0\].root .*/run/data resolves to {tmp_path}/elsewhere, "
                                          r"which is outside every container bind"):
        check_binds(needed, automatic)
    check_binds(needed, [*automatic, str(tmp_path / "elsewhere")])  # bound too: fine


def test_check_binds_names_a_path_outside_every_bind_and_a_missing_user_bind(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"container: cache /cache/x is outside every container bind \(/runs\)"):
        check_binds({"cache": Path("/cache/x")}, ["/runs"])
    with pytest.raises(ConfigError, match=rf"container.binds: {tmp_path}/nope does not exist on this host"):
        check_binds({}, [], [str(tmp_path / "nope")])
