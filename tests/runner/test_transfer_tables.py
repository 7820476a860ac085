"""TR01 and its heatmap from hand-made transfer rows: the matrix cells are the accuracies of the rows, only each
source's best configuration counts, the diagonal is starred and the replay agreement reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from runner.reduce.params import ParamKey
from runner.reduce.transfer_tables import table_transfer, transfer_figures
from sercore.stats import StatsSettings

BEST = ParamKey({"eps": 1.0})


def _rows(source_seed: int, target_seed: int, correct: list[int], params: ParamKey = BEST) -> pd.DataFrame:
    n = len(correct)
    y_true = np.arange(n) % 3
    y_adv = np.where(np.asarray(correct) == 1, y_true, (y_true + 1) % 3)
    model = {"study": "final", "arch": "final", "protocol": "paper", "normalization": "original", "standardize": True}
    return pd.DataFrame({"dataset": "emodb", "attack": "fgsm", "params": params, "labels": "predicted",
                         "estimator": "compiled",
                         "model_output": "softmax", "sample": np.arange(n), "y_true": y_true, "y_adv": y_adv,
                         "y_adv_source": y_adv if source_seed == target_seed else y_true, "y_clean": y_true,
                         "target_seen": [True, False] * (n // 2), "self": source_seed == target_seed,
                         **{f"source_{k}": v for k, v in model.items()}, "source_seed": source_seed,
                         **{f"target_{k}": v for k, v in model.items()}, "target_seed": target_seed})


def test_matrix_cells_and_heatmap(tmp_path: Path) -> None:
    rows = pd.concat([_rows(0, 0, [0, 0, 0, 1]), _rows(0, 1, [1, 1, 0, 1]), _rows(1, 0, [1, 0, 0, 0]),
                      _rows(1, 1, [0, 0, 0, 0]), _rows(0, 1, [0, 0, 0, 0], ParamKey({"eps": 0.25}))], ignore_index=True)
    best = pd.DataFrame([{"dataset": "emodb", "protocol": "paper", "labels": "predicted", "estimator": "compiled",
                          "model_output": "softmax",
                          "attack": "fgsm", "params": BEST}])
    table = table_transfer(rows, best, StatsSettings())
    m = table.display.set_index("source")
    assert m.loc["final paper s0", "final paper s0"] == "0.250*"
    assert m.loc["final paper s0", "final paper s1"] == "0.750"  # eps 0.25 rows are not the best configuration
    assert m.loc["final paper s1", "final paper s0"] == "0.250"
    data = table.data.set_index(["source", "target"])
    assert data.loc[("final paper s0", "final paper s1"), "seen_share"] == 0.5
    assert data.loc[("final paper s0", "final paper s0"), "replay_agreement"] == 1.0
    assert any("Replay agreement on the diagonal" in n for n in table.notes)
    media = transfer_figures([table], tmp_path)
    assert len(media) == 1 and media[0].path.read_bytes()[:4] == b"\x89PNG"
    assert table_transfer(rows.iloc[:0], best, StatsSettings()) is None
