"""X06: paper vs clean vs speaker protocol side by side, the leak = paper - leak-free, from the fake run."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from runner.reduce.merge import load_run
from runner.reduce.protocols import table_leak
from runner.reduce.summary import summarize
from tests.runner.fake_run import make_run


def test_leak_measured_twice(tmp_path: Path) -> None:
    paths = make_run(tmp_path / "run", protocols=("paper", "clean", "speaker"))
    data = load_run(paths.root, progress=False)
    s = summarize(data)
    table = table_leak(s)
    assert table is not None and table.name == "X06_leak_measured_twice"
    assert list(table.display.columns) == ["condition", "dataset", "paper", "clean", "speaker", "leak vs clean",
                                           "leak vs speaker"]
    row = table.data[(table.data.condition == "clean") & (table.data.dataset == "emodb")].iloc[0]
    train = data.frame("train")

    def acc(protocol: str) -> float:
        jobs = train[(train.dataset == "emodb") & (train.protocol == protocol)].job_id
        per_seed = [pd.read_parquet(paths.artefacts("train", j) / "predictions.parquet") for j in jobs]
        return sum((p.y_pred == p.y_true).mean() for p in per_seed) / len(per_seed)
    assert row.paper_mean == pytest.approx(acc("paper"))
    assert row.leak_speaker == pytest.approx(acc("paper") - acc("speaker"))
    assert row.leak_speaker_lo <= row.leak_speaker <= row.leak_speaker_hi
    assert set(table.data.condition) >= {"clean", "fgsm", "bim", "jsma", "cw_l2"}
    one = make_run(tmp_path / "one")  # paper protocol only: nothing to compare
    assert table_leak(summarize(load_run(one.root, progress=False))) is None
