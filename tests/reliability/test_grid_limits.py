"""Hostile or odd grids are bounded (issue 23, item 4): alias bombs, huge sweeps, `${...}` syntax, long names,
control characters in resource strings and site profiles. Each case is one `error:` line and exit 2, fast."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from runner import grid as grid_module
from runner.grid import load_grid
from runner.resources import Resources, SiteProfile
from runner.slurm import SlurmLaunch, sbatch_script
from tests.reliability.conftest import alias_bomb, cli
from tests.runner.conftest import BASE, changed, write_grid

HEAD = """\
name: t
corpora: [{name: synthetic, synthetic_per_class: 2}]
stages:
  features: {}
  train: {model: {width: 0.25}, train: {epochs: 1}}
  attack:
    attacks:
      fgsm:
"""
SMALL = changed(BASE, seeds=[0], protocols=["paper"], stages={"features": {}, "train": BASE["stages"]["train"]})


def _grid(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "g.yaml"
    path.write_text(f"output: {tmp_path / 'run'}\n{text}", encoding="utf-8")
    return path


@pytest.mark.parametrize("where", ["top", "attack"])
def test_alias_bomb_is_refused_at_once(tmp_path: Path, capsys, where: str) -> None:
    bomb = alias_bomb() if where == "top" else HEAD + alias_bomb(" " * 8) + "        eps: *l8\n"
    path = _grid(tmp_path, "name: t\n" + bomb if where == "top" else bomb)
    assert len(alias_bomb()) < 600
    started = time.perf_counter()
    code, err = cli(["submit", path, "--no-progress"], capsys)
    assert time.perf_counter() - started < 2
    values = "490,329,057" if where == "top" else "926,177,121"
    assert (code, err) == (2, [f"error: {path}: YAML aliases expand this grid to {values} values, over the limit "
                               "of 100,000; write the values out or split the grid"])
    assert not (tmp_path / "run").exists()


def test_alias_bomb_in_a_set_override_is_refused(tmp_path: Path, capsys) -> None:
    path = _grid(tmp_path, HEAD + "        eps: 0.1\n")
    inline = "{" + alias_bomb().strip().replace("\n", ", ") + "}"
    code, err = cli(["plan", path, "--set", f"stages.attack.attacks.fgsm={inline}"], capsys)
    assert (code, err) == (2, ["error: --set stages.attack.attacks.fgsm: YAML aliases expand this grid to "
                               "490,329,055 values, over the limit of 100,000; write the values out or split the grid"])


def test_echoed_values_are_cut_to_80_characters(tmp_path: Path, capsys) -> None:
    path = _grid(tmp_path, HEAD + "        eps: " + "x" * 100_000 + "\n")
    code, err = cli(["plan", path], capsys)
    assert (code, err) == (2, [f"error: {path}: stages.attack.attacks.fgsm.eps: must be a valid number, unable to "
                               f"parse string as a number (got '{'x' * 76}...)"])


def test_a_million_job_sweep_is_refused_before_expanding(tmp_path: Path, capsys) -> None:
    eps = ", ".join(str(i + 1) for i in range(1001))
    path = _grid(tmp_path, HEAD + f"        eps: [{eps}]\n        eps_step: [{eps.rpartition(', ')[0]}]\n")
    started = time.perf_counter()
    code, err = cli(["plan", path], capsys)
    assert time.perf_counter() - started < 2
    assert (code, err) == (2, [f"error: {path}: stages: the sweeps multiply out to 1,001,002 jobs (features 1, "
                               "train 1, attack 1,001,000), over the limit of 1,000,000; split the grid"])


def test_submit_over_the_confirmation_threshold_needs_yes(tmp_path: Path, capsys, monkeypatch, fake_jobs) -> None:
    monkeypatch.setattr(grid_module, "CONFIRM_JOBS", 1)  # stands in for 100,000: SMALL has 2 jobs
    path = write_grid(tmp_path, SMALL)
    code, err = cli(["submit", path, "--no-progress"], capsys)
    assert (code, err) == (2, [f"error: {path}: 2 jobs, more than 1; check `plan` and pass --yes to submit them"])
    assert not (tmp_path / "run").exists() and not fake_jobs
    assert cli(["submit", path, "--no-progress", "--dry-run"], capsys)[0] == 0  # shows, runs nothing
    assert cli(["submit", path, "--no-progress", "--yes"], capsys) == (0, [])
    assert len(fake_jobs) == 2


@pytest.mark.parametrize("bad", ["${}", "${X", "${1BAD}", "${A-b}"])
def test_malformed_variables_are_errors_naming_the_key(tmp_path: Path, capsys, bad: str) -> None:
    path = _grid(tmp_path, HEAD.replace("name: t", f"name: t\ncache: {tmp_path}/c-{bad}") + "        eps: 0.1\n")
    code, err = cli(["plan", path], capsys)
    assert (code, err) == (2, [f"error: {path}: cache: malformed variable {bad!r} (expected ${{NAME}} or "
                               "${NAME:-default}, NAME = [A-Za-z_][A-Za-z0-9_]*; $${ writes a literal ${)"])


def test_well_formed_variables_and_the_escape_still_work(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SERTACK_T_DIR", str(tmp_path))
    cache = "cache: ${SERTACK_T_DIR}/$${HOME}/${SERTACK_UNSET:-d}"
    text = HEAD.replace("name: t", f"name: t\n{cache}") + "        eps: 0.1\n"
    assert load_grid(_grid(tmp_path, text)).cache == tmp_path / "${HOME}" / "d"


@pytest.mark.parametrize(("name", "message"), [
    ("a" * 300, f"must be at most 100 characters long (got 300 characters: '{'a' * 60}...)"),
    ("runs/../x", "must be a plain name: letters, digits, '.', '_', '-'; no '/' or '..' (got 'runs/../x')"),
])
@pytest.mark.usefixtures("fake_jobs")  # on a build without the limit, submit would train for real
def test_long_or_path_like_names_are_refused(tmp_path: Path, capsys, name: str, message: str) -> None:
    path = write_grid(tmp_path, changed(SMALL, name=name))
    code, err = cli(["submit", path, "--no-progress"], capsys)
    assert (code, err) == (2, [f"error: {path}: name: {message}"])
    assert load_grid(write_grid(tmp_path, changed(SMALL, name="a" * 100))).name == "a" * 100


def test_control_characters_in_resource_strings_are_refused(tmp_path: Path, capsys) -> None:
    resources = {"default": {"partition": "gpu\n#SBATCH --wrap=id", "mem": "4G"}, "train": {"qos": "hi\x1b[2J"}}
    path = write_grid(tmp_path, changed(SMALL, resources=resources))
    code, err = cli(["plan", path], capsys)
    assert (code, err) == (2, [
        f"error: {path}: resources.default.partition: must not contain newlines or control characters "
        "(got 'gpu\\n#SBATCH --wrap=id')",
        f"error: {path}: resources.train.qos: must not contain newlines or control characters (got 'hi\\x1b[2J')",
    ])


@pytest.mark.parametrize(("profile", "message"), [
    ("env: {'X=1; touch /tmp/pwned; Y': '1'}",
     "env: key 'X=1; touch /tmp/pwned; Y' is not a shell variable name (letters, digits, '_'; not a digit first)"),
    ("sbatch: {'comment': \"a\\nb\"}", "sbatch: must not contain newlines or control characters (got 'a\\nb')"),
    ("sbatch: {'x y': 1}", "sbatch: key 'x y' is not an sbatch option name (letters, digits, '-', '_')"),
])
def test_site_profile_keys_and_values_are_checked(tmp_path: Path, capsys, profile: str, message: str) -> None:
    prof = tmp_path / "site.yaml"
    prof.write_text(profile + "\n", encoding="utf-8")
    path = write_grid(tmp_path, changed(SMALL, profile=str(prof)))
    code, err = cli(["plan", path], capsys)
    valid = ", ".join(SiteProfile.model_fields)
    assert (code, err) == (2, [f"error: {path}: profile: {prof}: {message} (valid keys: {valid})"])


def test_ordinary_profile_values_are_still_quoted_in_the_script(tmp_path: Path) -> None:
    profile = SiteProfile(env={"MY_VAR": "a b;c"}, sbatch={"mail-type": "FAIL"})
    text = sbatch_script(SlurmLaunch(tmp_path, Resources(partition="gpu"), profile, None, "t", slurm_binds=[]))
    assert "export MY_VAR='a b;c'\n" in text
    assert "#SBATCH --mail-type=FAIL\n" in text and "#SBATCH --partition=gpu\n" in text
