"""runner/data/paper_results.yaml: its structure, and spot cells against the paper's text (../shared/paper, when
this checkout sits beside it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from runner.reduce.paper_compare import KINDS, paper_cells, paper_results

PAPER = Path(__file__).resolve().parents[2] / ".." / "shared" / "paper" / "000_b99e46e4a73c207f.txt"


def test_structure() -> None:
    d = paper_results()
    assert set(d) >= {"tables", "derived", "table_7", "contradictions"}
    for no, t in d["tables"].items():
        assert t["kind"] in KINDS, no
        for key, vals in [*t["rows"].items(), *(t.get("ranks") or {}).items()]:
            assert len(vals) == len(t["columns"]), f"table {no} row {key}: {len(vals)} values"
            assert all(v is None or isinstance(v, int | float) for v in vals), (no, key)
        for cell in t.get("printed") or {}:
            row, col = cell.split(" | ")
            assert str(row) in map(str, t["rows"]) and col in map(str, t["columns"]), (no, cell)
    # every numbered table of the paper that prints numbers is here
    want = {"3", "5", "6", "8", "9", "10", "11-17", *map(str, range(18, 49))}
    assert set(d["tables"]) == want
    cells = paper_cells()
    assert len(cells) == 974 and cells.value.notna().all()
    assert not cells.duplicated(["table", "row", "column", "what"]).any()


def test_values_follow_the_papers_own_rules() -> None:
    """Cross-checks inside the transcription: Total Score = sum of ranks; Table 5's values are the sweep values
    of the Table 4 picks (except the recorded contradictions)."""
    t = paper_results()["tables"]
    for no in ("45", "46"):
        ranks = t[no]["ranks"]
        total = [sum(r[i] for k, r in ranks.items() if k != "total_score") for i in range(3)]
        assert total == ranks["total_score"], no
    assert t["5"]["rows"]["fgsm/emovo"][0] == t["23"]["rows"]["emovo/all"][1]  # eps 0.5
    assert t["5"]["rows"]["cw/ravdess"] == [t["36"]["rows"][f"ravdess/{g}"][1] for g in ("all", "female", "male")]
    assert t["44"]["rows"]["deepfool"] == [t["32"]["rows"][d][1] for d in ("emodb", "emovo", "ravdess")]
    assert t["3"]["rows"]["male"] == [t["5"]["rows"][f"original/{d}"][2] for d in ("emodb", "emovo", "ravdess")]


SPOT = [  # (table, row, leading label cells, the text line it was transcribed from)
    ("5", "deepfool/emodb", 2, "DeepFool | EmoDB | 0.061 | 0.061 | 0.070 |"),
    ("6", "pixel/ravdess", 2, "PixelAttack | Ravdess | 0.000939 | 0.000813 | 0.001066 |"),
    ("23", "ravdess/female", 1, "Female | 0.164 | 0.195 | 0.203 | 0.212 | 0.209 | |"),
    ("25", "ravdess", 1, "Ravdess | 3.150 | 2.840 | 2.792 | 2.864 | 2.839 |"),
    ("29", "emovo", 1, "EMOVO | 28.622 | 28.520 | 28.502 | 28.661 | 28.530 |"),
    ("27", "emodb", 1, "EmoDB | 23.007 | 29.431 | 31.680 | 32.776 | 33.361 |"),
    ("35", "ravdess", 1, "Ravdess | 854.193 | 1277.608 | 623.825 | 374.433 |"),
    ("40", "emodb/male", 1, "Male | 9.5e-05 | 3.53e-04 | 6.6e-04 | |"),
    ("41", "emodb", 1, "EmoDB | 2570.724 | 1438.910 | 1436.918 |"),
    ("21", "final_tuned/accuracy", 2, "Final tuned | Accuracy | 0.906810 | 0.895643 | 0.912898 |"),
    ("18", "1024", 1, "1024 | 0.32 | 0.48 | 0.3 |"),
    ("48", "jsma", 1, "JSMA | 0.00372 | 0.00302 | 0.00220 | 0.00197 | 0.00294 | 0.00190 |"),
    ("45", "pixel", 1, "PixelAttack | 0.547 (3) | 0.364 (2) | 0.322 (1) |"),
]


@pytest.mark.skipif(not PAPER.is_file(), reason=f"the paper's text is not at {PAPER}")
@pytest.mark.parametrize("table,row,labels,line", SPOT)
def test_spot_cells_against_the_papers_text(table: str, row: str, labels: int, line: str) -> None:
    assert line in PAPER.read_text(encoding="utf-8").splitlines(), f"line not in the paper's text: {line}"
    printed = [c.strip().split(" (")[0] for c in line.split("|")[labels:] if c.strip()]
    rows = {str(k): v for k, v in paper_results()["tables"][table]["rows"].items()}
    assert rows[row] == pytest.approx([float(x) for x in printed], rel=1e-12), (table, row)
