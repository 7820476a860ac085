"""The unbounded-attack check job (`stages.attack.checks`): one per attacked model, on the same samples, with the
old jobs' ids unchanged, no transfer replay, and rows that reach no robustness table (RunData keeps them apart)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pyarrow as pa
import pytest

from runner.expand import UNBOUNDED_PARAMS, count_jobs
from runner.grid import GridError, load_grid
from runner.labels import job_label
from runner.paths import RunPaths
from runner.planned import PlannedJob
from runner.reduce.rundata import MergeResult, RunData
from sercore.specs import AttackJob, CorpusSpec
from tests.runner.conftest import BASE

CHECKS = {"unbounded": True}


def found_jobs(grid) -> list[PlannedJob]:
    return [j for j in grid.jobs["attack"] if j.spec.check is not None]


def _checks(grid) -> list[AttackJob]:
    return [j.spec for j in found_jobs(grid)]


def test_one_check_job_per_model_and_old_ids_hold(make_grid) -> None:
    plain = load_grid(make_grid())
    checked = load_grid(make_grid(stages__attack__checks=CHECKS))
    models = {j.id for j in checked.jobs["train"]}
    found = _checks(checked)
    assert len(found) == len(models) == 4 and {s.target.job_id for s in found} == models
    assert {j.id for j in plain.jobs["attack"]} == {j.id for j in checked.jobs["attack"] if j.spec.check is None}
    spec = found[0]
    assert (spec.attack, spec.check, spec.slices, spec.examples, spec.limit) == ("pgd", "unbounded", 1, 0, 4)
    assert UNBOUNDED_PARAMS.items() <= spec.params.given().items()
    assert '"check":"unbounded"' in spec.canonical_json()
    assert '"check"' not in plain.jobs["attack"][0].spec.canonical_json()  # late field: absent at its default
    assert job_label(found_jobs(checked)[0]).endswith("(unbounded check)")
    counted = count_jobs({"train": {}, "attack": {**BASE["stages"]["attack"], "checks": CHECKS}},
                         [CorpusSpec(name="synthetic")], 1, ("paper", "clean"), (0, 1))
    assert counted["attack"] == len(checked.jobs["attack"])


def test_check_parameters_can_be_overridden_and_are_validated(make_grid) -> None:
    grid = load_grid(make_grid(stages__attack__checks={"unbounded": {"max_iter": 5}}))
    assert {**UNBOUNDED_PARAMS, "max_iter": 5}.items() <= _checks(grid)[0].params.given().items()
    assert _checks(load_grid(make_grid(stages__attack__checks={"unbounded": False}))) == []
    bad = make_grid(stages__attack__checks={"unbounded": {"eps": -1}, "other": True})
    with pytest.raises(GridError) as info:
        load_grid(bad)
    found = info.value.problems
    assert any("stages.attack.checks.other: unknown check (expected unbounded)" in p for p in found)
    assert any("stages.attack.checks.unbounded.eps:" in p and "-1" in p for p in found)


def test_transfer_replays_no_check_job(make_grid) -> None:
    grid = load_grid(make_grid(stages__attack__checks=CHECKS, stages__transfer={}))
    replayed = {a.job_id for j in grid.jobs["transfer"] for a in j.spec.attacks}
    assert replayed and not replayed & {s.job_id for s in _checks(grid)}


def test_run_data_keeps_check_rows_out_of_the_attack_frame(make_grid, tmp_path: Path) -> None:
    grid = load_grid(make_grid(stages__attack__checks=CHECKS))
    jobs: list[PlannedJob] = grid.jobs["attack"]
    rows = pd.DataFrame({"job_id": [j.id for j in jobs], "attack": [j.spec.attack for j in jobs],
                         "check": [j.spec.check for j in jobs]})
    status = pd.DataFrame({"job_id": rows.job_id, "stage": "attack", "status": "ok", "reason": ""})
    data = RunData(RunPaths(tmp_path), {"attack": MergeResult("attack", pa.Table.from_pandas(rows), status, jobs)})
    assert data.frame("attack").check.isna().all() and len(data.frame("attack")) == len(jobs) - 4
    assert set(data.check_frame().check) == {"unbounded"} and len(data.check_frame()) == 4
    assert all(j.spec.check is None for j in data.plan("attack")) and len(data.plan("attack")) == len(jobs) - 4


def test_a_reduced_run_keeps_the_check_out_of_every_robustness_number(tmp_path: Path) -> None:
    """The fake run plus one check job per model (its rows leave most samples right): R03 flags each model, R02
    shows the flag beside the gradient attacks, and no table, headline or summary counts the check's PGD."""
    from runner.reduce.beyond import beyond_tables
    from runner.reduce.headline import banners, build_headline
    from runner.reduce.merge import load_run
    from runner.reduce.summary import summarize
    from tests.runner.fake_run import make_run

    data = load_run(make_run(tmp_path / "run", checks=True), progress=False)
    s = summarize(data)
    assert "pgd" not in set(s.attack_rows.attack) and "pgd" not in set(s.best.attack)
    assert len(data.check_frame().job_id.unique()) == 4  # 2 corpora x 2 seeds
    tables = {t.name: t for t in beyond_tables(data, s)}
    r01, r02, r03 = (tables[n] for n in ("R01_worst_case", "R02_robust_accuracy", "R03_attack_checks"))
    assert "PGD" not in r01.display.columns and "PGD" not in set(r02.display.attack)
    flagged = r03.display[r03.display.check == "unbounded"]
    assert len(flagged) == 4 and flagged.parameters.str.startswith("unbounded check: eps=100.0").all()
    assert "Unbounded check on 4 model(s)" in r03.notes[-1]
    by_attack = r02.display.groupby("attack").flags.agg(lambda f: all("unbounded" in x for x in f))
    assert by_attack.to_dict() == {"BIM": True, "C&W L2": True, "FGSM": True, "JSMA": True}
    headline = build_headline(data, s)
    assert headline is not None and all("PGD" not in str(r) for r in headline.rows)
    masked = [b for b in banners(data, s, (0, 0)) if b.kind == "masked"]
    assert len(masked) == 1 and "(near zero means <= 0.05) on 4 of 4 model(s)" in masked[0].text
