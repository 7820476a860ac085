"""The paper's tables from hand-made shards: golden layouts, the aggregation rules, the best-configuration rule
(ties included) and the dagger on cells whose jobs are incomplete."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from runner.reduce import aggregate as agg
from runner.reduce.merge import load_run
from runner.reduce.params import ParamKey
from runner.reduce.render import INCOMPLETE, Table, to_latex, to_markdown
from runner.reduce.report import build_tables
from runner.reduce.rundata import RunData
from runner.reduce.summary import Summary, summarize
from tests.runner.fake_run import ATTACKS, make_run


@pytest.fixture(scope="module")
def reduced(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunData, Summary, dict[str, Table]]:
    paths = make_run(tmp_path_factory.mktemp("tables") / "run")
    data = load_run(paths.root, progress=False)
    s = summarize(data)
    return data, s, {t.name: t for t in build_tables(data, s)}


def test_tables_match_golden_layout(reduced: tuple[RunData, Summary, dict[str, Table]],
                                    golden: Callable[[str, str], None]) -> None:
    _, _, tables = reduced
    expected = ["T01_normalisation", "T02_architecture", "T03_clean_accuracy", "T04_best_config",
                "T05_accuracy_by_gender", "T06_perturbation_by_gender", "T07_distance_metric", "T08_durations",
                "T09_emotions", "T10_segments", "T18_lstm_units", "T19_m1_vs_final", "T20_tuned_values",
                "T21_tuning_effect", "T22_test_composition", "T23-T43_fgsm_sweep", "T23-T43_bim_sweep", "T27_bim_loss",
                "T23-T43_jsma_sweep", "T23-T43_cw_l2_sweep", "T44_best_time", "T45_rank_accuracy",
                "T46_rank_perturbation", "T47_gender_accuracy", "T48_gender_perturbation",
                "X08_pooled_accuracy", "X09_training"]
    assert list(tables) == expected
    for name, table in tables.items():
        golden(f"report/{name}.md", to_markdown(table))
    golden("report/T03_clean_accuracy.tex", to_latex(tables["T03_clean_accuracy"]))
    golden("report/T05_accuracy_by_gender.csv", tables["T05_accuracy_by_gender"].csv_frame.to_csv(
        index=False, float_format="%.6g"))


def test_attack_metrics_follow_the_rows(reduced: tuple[RunData, Summary, dict[str, Table]]) -> None:
    data, s, _ = reduced
    rows = data.frame("attack")
    sel = rows[(rows.attack == "fgsm") & (rows.dataset == "emodb") & (rows.seed == 0) & (rows.param_eps == 0.25)]
    assert sel.job_id.nunique() == ATTACKS["fgsm"][1] == 2  # two slices form one configuration
    got = s.attack_seeds[(s.attack_seeds.attack == "fgsm") & (s.attack_seeds.dataset == "emodb")
                         & (s.attack_seeds.seed == 0) & (s.attack_seeds.param_eps == 0.25)].iloc[0]
    male = sel[sel.gender == "male"]
    assert got.n == len(sel) == 12
    assert got.accuracy == pytest.approx(np.mean(sel.y_adv == sel.y_true))
    assert got.accuracy_male == pytest.approx(np.mean(male.y_adv == male.y_true))
    assert got.success_rate == pytest.approx(np.mean(sel.y_adv != sel.y_clean))
    assert got.perturbation == pytest.approx(sel.perturbation.mean())
    # time: each slice job's generate_s once, not once per row
    assert got.time_s == pytest.approx(sel.drop_duplicates("job_id").generate_s.sum())
    both = s.attack_seeds[(s.attack_seeds.params == got.params) & (s.attack_seeds.dataset == "emodb")]
    cfg = s.attack_configs[(s.attack_configs.params == got.params) & (s.attack_configs.dataset == "emodb")].iloc[0]
    assert cfg.accuracy_mean == pytest.approx(both.accuracy.mean())
    assert cfg.accuracy_std == pytest.approx(both.accuracy.std(ddof=1))
    assert cfg.n_seeds == 2


def _configs(rows: list[tuple[str, float, float]]) -> pd.DataFrame:
    base = {"dataset": "emodb", "protocol": "paper", "labels": "predicted", "estimator": "compiled",
            "model_output": "softmax", "attack": "bim"}
    return pd.DataFrame([{**base, "params": ParamKey({"eps": e}), "accuracy_mean": a, "perturbation_mean": p}
                         for e, a, p in rows])


def test_best_config_lowest_accuracy_then_lowest_perturbation() -> None:
    plain = agg.best_configs(_configs([("0.25", 0.3, 0.1), ("0.5", 0.2, 0.4), ("1.0", 0.25, 0.01)]))
    assert plain.params.iloc[0].values == {"eps": "0.5"}
    # equal accuracy (up to float noise): the smaller perturbation wins, whatever the row order
    tied = _configs([("1.0", 0.0669, 0.607), ("0.25", 0.0669 + 1e-12, 0.159), ("0.5", 0.0669, 0.293)])
    for order in ([0, 1, 2], [2, 1, 0], [1, 0, 2]):
        best = agg.best_configs(tied.iloc[order])
        assert best.params.iloc[0].values == {"eps": "0.25"}
    # full tie: deterministic (parameter string order)
    same = _configs([("0.5", 0.1, 0.2), ("0.25", 0.1, 0.2)])
    assert agg.best_configs(same.iloc[::-1]).params.iloc[0] == agg.best_configs(same).params.iloc[0]


def test_bim_tie_in_the_fake_run_resolves_to_smallest_eps(reduced: tuple[RunData, Summary, dict[str, Table]]) -> None:
    _, s, _ = reduced
    bim = s.attack_configs[s.attack_configs.attack == "bim"]
    assert bim.groupby("dataset").accuracy_mean.nunique().eq(1).all()  # the fake run makes BIM tie on purpose
    best = s.best[s.best.attack == "bim"]
    assert set(best.param_eps) == {0.25}


def test_incomplete_cells_carry_a_dagger(tmp_path: Path) -> None:
    paths = make_run(tmp_path / "run")
    data0 = load_run(paths.root, progress=False)
    rows = data0.frame("attack")
    victim = rows[(rows.attack == "jsma") & (rows.dataset == "emovo") & (rows.seed == 1)].job_id.iloc[0]
    paths.shard("attack", victim).unlink()
    (paths.error_dir).mkdir(exist_ok=True)
    (paths.error(victim)).write_text("RuntimeError: out of memory\n")
    data = load_run(paths.root, progress=False)
    tables = {t.name: t for t in build_tables(data)}
    sweep = tables["T23-T43_jsma_sweep"]
    flagged = sweep.display[sweep.display.accuracy.str.endswith(INCOMPLETE)]
    assert len(flagged) == 1 and flagged.dataset.iloc[0] == "EMOVO"
    assert any("incomplete" in n for n in sweep.notes)
    assert not any(INCOMPLETE in str(v) for v in tables["T23-T43_fgsm_sweep"].display.accuracy)
    assert not any(INCOMPLETE in str(v) for v in tables["T03_clean_accuracy"].display["all"])


def test_incomplete_study_and_train_cells(tmp_path: Path) -> None:
    paths = make_run(tmp_path / "run")
    data0 = load_run(paths.root, progress=False)
    norm = data0.frame("norm_study")
    victim = norm[(norm.normalization == "norm_sum") & (norm.dataset == "emodb")].job_id.iloc[0]
    paths.shard("norm_study", victim).unlink()
    train = data0.frame("train")
    paths.shard("train", train[train.dataset == "emovo"].job_id.iloc[0]).unlink()
    tables = {t.name: t for t in build_tables(load_run(paths.root, progress=False))}
    t1 = tables["T01_normalisation"].display.set_index("normalization")
    assert t1.loc["norm_sum", "EmoDB"].endswith(INCOMPLETE) and not t1.loc["norm_sum", "EMOVO"].endswith(INCOMPLETE)
    assert not t1.loc["original", "EmoDB"].endswith(INCOMPLETE)
    t3 = tables["T03_clean_accuracy"].display.set_index("dataset")
    assert t3.loc["EMOVO", "all"].endswith(INCOMPLETE) and not t3.loc["EmoDB", "all"].endswith(INCOMPLETE)
    assert t3.loc["EMOVO", "seeds"] == 1  # the mean rests on the one seed left


def test_only_stages_in_the_run_give_tables(tmp_path: Path) -> None:
    paths = make_run(tmp_path / "run")
    for stage in ("attack", "tune", "norm_study", "arch_study"):
        shutil.rmtree(paths.shard_dir(stage))
        paths.plan(stage).unlink()
    names = [t.name for t in build_tables(load_run(paths.root, progress=False))]
    assert names == ["T03_clean_accuracy", "T08_durations", "T09_emotions", "T10_segments", "T21_tuning_effect",
                     "T22_test_composition", "X08_pooled_accuracy", "X09_training"]  # features and final models only


def test_two_protocols_become_a_row_label(tmp_path: Path) -> None:
    paths = make_run(tmp_path / "run", protocols=("paper", "clean"))
    tables = {t.name: t for t in build_tables(load_run(paths.root, progress=False))}
    t3 = tables["T03_clean_accuracy"].display
    assert list(t3.columns[:2]) == ["protocol", "dataset"] and set(t3.protocol) == {"paper", "clean"}
    t5 = tables["T05_accuracy_by_gender"].display
    assert set(t5.protocol) == {"paper", "clean"} and len(t5) == 2 * (len(ATTACKS) + 1)  # + the Original row
    assert list(t5[t5.protocol == "clean"].attack)[-1] == "Original"


def test_latex_escapes_and_markdown_pipes() -> None:
    df = pd.DataFrame({"attack": ["C&W L2 | x"], "acc": [f"0.5 ± 0.1 {INCOMPLETE}"]})
    table = Table("T99_demo", "50% of_it", df, df, ["note #1"])
    tex = to_latex(table)
    assert r"C\&W L2" in tex and r"50\% of\_it" in tex and r"$\pm$" in tex and r"$^\dagger$" in tex
    assert r"note \#1" in tex
    assert "C&W L2 \\| x" in to_markdown(table)


def test_an_attack_the_paper_did_not_run_gets_rows_but_no_paper_cells(tmp_path: Path,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """PGD (declared, no paper grid): its own rows in the summary and sweep tables and the worst case, after the
    paper's attacks, and nothing in the paper comparison."""
    from runner.reduce.beyond import beyond_tables
    from runner.reduce.paper_report import comparison_tables
    from tests.runner import fake_run

    monkeypatch.setitem(fake_run.ATTACKS, "pgd", ([{"eps": 0.25}, {"eps": 0.5, "norm": 2}], 1))
    data = load_run(make_run(tmp_path / "run").root, progress=False)
    s = summarize(data)
    tables = {t.name: to_markdown(t) for t in build_tables(data, s) + beyond_tables(data, s)}
    best = [line.split(" | ")[0] for line in tables["T04_best_config"].splitlines() if line.startswith("| ")]
    assert best[-1] == "| PGD" and "| EmoDB | eps=0.5, norm=2.0 |" in tables["T23-T43_pgd_sweep"]
    assert "| PGD | paper's attacks | all attacks |" in tables["R01_worst_case"]  # PGD's union apart
    compare = comparison_tables(data, s)
    assert compare and not [t.name for t in compare if "PGD" in to_markdown(t)]


def test_each_attack_table_has_its_own_tidy_csv(reduced: tuple[RunData, Summary, dict[str, Table]]) -> None:
    _, s, tables = reduced
    names = ["T04_best_config", "T05_accuracy_by_gender", "T06_perturbation_by_gender", "T44_best_time",
             "T47_gender_accuracy"]
    frames = {n: tables[n].csv_frame for n in names}
    assert len({f.to_csv() for f in frames.values()}) == len(names)  # no longer one shared dump
    assert set(frames["T47_gender_accuracy"].group) == {"female", "male"}
    n_best = len(s.paper_best)
    t05, t06 = frames["T05_accuracy_by_gender"], frames["T06_perturbation_by_gender"]
    assert len(t05) == 3 * (n_best + 2) and set(t05.group) == {"all", "male", "female"}  # + Original per corpus
    assert len(t06) == 3 * n_best and len(frames["T44_best_time"]) == len(frames["T04_best_config"]) == n_best
    assert {"perturbation_z_mean", "perturbation_z_ci_lo", "perturbation_z_ci_hi"} <= set(t06.columns)
    assert "time_s_ci_lo" not in frames["T44_best_time"]  # time has no interval: no empty columns
    # the numbers are the summary's, unformatted, and cw_l2 is named as the attack it is
    best = s.paper_best.set_index(["source_attack", "dataset"])
    r = t05[(t05.attack == "cw_l2") & (t05.dataset == "emovo") & (t05.group == "male")].iloc[0]
    assert (r.accuracy_mean, r.accuracy_ci_lo, r.accuracy_ci_hi) == tuple(
        best.loc[("cw_l2", "emovo"), ["accuracy_male_mean", "accuracy_male_lo", "accuracy_male_hi"]])
    sweep = tables["T23-T43_fgsm_sweep"].csv_frame
    assert list(sweep.param_eps) == [0.25, 0.5, 0.25, 0.5] and "success_rate_ci_hi" in sweep
    assert tables["T03_clean_accuracy"].csv is None  # tables whose data is their own keep it as CSV
