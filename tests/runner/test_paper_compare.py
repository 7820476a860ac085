"""Paper vs reproduced per cell, on the hand-made table of test_paper_tables (the paper's own values): matching
cells give Δ = 0, the paper's self-contradictions show up as the only non-zero Δ, ranks are compared only where
all three corpora are present, and every table gets a summary line."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from runner.paths import RunPaths
from runner.reduce.paper_compare import compared_cells
from runner.reduce.paper_report import comparison_tables, summary_line
from runner.reduce.rundata import RunData
from runner.reduce.summary import Summary
from tests.runner.test_paper_tables import _summary


@pytest.fixture(scope="module")
def cells() -> pd.DataFrame:
    return compared_cells(RunData(paths=RunPaths(Path("/nonexistent")), stages={}), _summary())


def _one(cells: pd.DataFrame, table: str, row: str, column: str, what: str = "value") -> pd.Series:
    hit = cells[(cells.table == table) & (cells.row == row) & (cells.column == column) & (cells.what == what)]
    assert len(hit) == 1, (table, row, column, what)
    return hit.iloc[0]


def test_matching_cells_have_zero_delta(cells: pd.DataFrame) -> None:
    assert _one(cells, "23", "emodb/all", "0.5").delta == pytest.approx(0)  # FGSM eps 0.5 sweep cell
    assert _one(cells, "5", "fgsm/ravdess", "male").ours == pytest.approx(0.127)  # best config eps 0.25
    assert _one(cells, "36", "emovo/female", "cw_linf").delta == pytest.approx(0)
    assert _one(cells, "42", "ravdess/male", "perturbation").ours == pytest.approx(1.136)
    assert _one(cells, "5", "original/emovo", "female").ours == pytest.approx(0.852)
    assert _one(cells, "47", "cw", "emodb/male").delta == pytest.approx(0)  # the merged C&W row is L-inf
    assert _one(cells, "30", "emodb/all", "20").delta == pytest.approx(0)
    assert pd.isna(_one(cells, "23", "emodb/all", "0.75").ours)  # not in the run: not compared


def test_contradiction_is_visible_and_ranks_need_all_corpora(cells: pd.DataFrame) -> None:
    # Table 5 prints DeepFool EmoDB female .061, Table 30 (the sweep we fed in) .056
    assert _one(cells, "5", "deepfool/emodb", "female").delta == pytest.approx(-0.005)
    assert _one(cells, "30", "emodb/female", "5").delta == pytest.approx(0)
    assert _one(cells, "45", "fgsm", "emovo", "rank").delta == 0
    assert pd.isna(_one(cells, "45", "total_score", "emodb", "rank").ours)  # 4 of the paper's 7 attacks


def test_summary_line_and_tables(cells: pd.DataFrame) -> None:
    t5 = cells[cells.table == "5"]
    line = summary_line(t5)
    assert line["printed"] == 72 and line["compared"] == 45  # fgsm, deepfool, cw, boundary, original x 3 x 3
    assert line["worst_cell"] == "deepfool/emodb | female" and line["worst_delta"] == pytest.approx(-0.005)
    tables = comparison_tables(RunData(paths=RunPaths(Path("/nonexistent")), stages={}), _summary())
    head = tables[0]
    assert head.name == "P00_paper_summary" and set(head.data.table) >= {"3", "5", "45", "11-17"}
    assert int(head.data.printed.sum()) == 974
    p5 = next(t for t in tables if t.name == "P05_paper_table_5")
    assert p5.notes[0].startswith("45 of 72 printed cells compared") and any("contradicts" in n for n in p5.notes)


def test_table4_picks_compared_with_the_papers_rule() -> None:
    tables = comparison_tables(RunData(paths=RunPaths(Path("/nonexistent")), stages={}), _summary())
    p4 = next(t for t in tables if t.name == "P04_paper_picks").display
    df = p4[p4.attack == "DeepFool"]
    assert list(df.ours) == ["max_iter=5"] * 3 and set(df.same) == {"yes"}
    fgsm = p4[(p4.attack == "FGSM") & (p4.dataset == "EMOVO")].iloc[0]
    assert (fgsm.paper, fgsm.ours, fgsm.same) == ("eps=0.5", "eps=0.5", "yes")
    assert set(p4[p4.attack == "C&W"].ours) == {"attack=cw_linf"}
    assert set(p4.same) == {"yes"}  # the hand-made table holds the paper's own values


def test_a_run_without_the_papers_stages_compares_nothing() -> None:
    empty = pd.DataFrame()
    s = Summary(train=empty, attack_seeds=empty, attack_configs=empty, best=empty, attack_incomplete={},
                train_incomplete={}, variants=[], paper_best=empty)
    tables = comparison_tables(RunData(paths=RunPaths(Path("/nonexistent")), stages={}), s)
    assert [t.name for t in tables] == ["P00_paper_summary"]
    assert tables[0].data.compared.sum() == 0 and tables[0].notes[0].startswith("0 of the paper's 974")
