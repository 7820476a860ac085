"""W02 on hand-made rows: fooled, still fooling as sound, the clean round trip's control, and what is not checked."""

from __future__ import annotations

import numpy as np
import pandas as pd

from runner.reduce.params import ParamKey
from runner.reduce.resynthesis_tables import resynthesis_cells, table_resynthesis
from sercore.stats import StatsSettings

SETTINGS = StatsSettings(resamples=200)


def _rows(attack: str, y_adv: list[int], y_clean_rs: list[float], y_adv_rs: list[float]) -> pd.DataFrame:
    n = len(y_adv)
    return pd.DataFrame({
        "dataset": "synthetic", "protocol": "paper", "model_output": "softmax", "attack": attack,
        "params": ParamKey({"eps": 0.25}), "seed": 0, "sample": np.arange(n),
        "recording": [f"r{i // 2}" for i in range(n)],
        "gender": ["male", "female"] * (n // 2), "y_true": 0, "y_clean": 0, "y_adv": y_adv,
        "y_clean_resynth": y_clean_rs, "y_adv_resynth": y_adv_rs})


def test_cells_share_fooled_surviving_control_and_beyond() -> None:
    # six samples: 4 checked (the last two are -1 and NaN: not checked); of the checked, 3 fool the model.
    # Round trips: sample 0's AE keeps fooling; 1's AE is undone; 2's AE and its clean twin both land on class 2
    # (fooling, but not beyond the control); 3 did not fool, and its clean round trip flips (control).
    rows = _rows("fgsm", y_adv=[1, 1, 2, 0, 1, 1], y_clean_rs=[0, 0, 2, 1, -1, np.nan],
                 y_adv_rs=[1, 0, 2, 0, -1, np.nan])
    cell = resynthesis_cells(rows, SETTINGS).iloc[0]
    assert cell.n == 4 and cell.n_fooled == 3
    assert cell.fooled == 0.75
    assert cell.survives == 2 / 3  # samples 0 and 2
    assert cell.control == 0.5  # samples 2 and 3
    assert cell.beyond == 1 / 3  # sample 0 only
    assert cell.fooled_lo <= cell.fooled <= cell.fooled_hi and cell.ci_unit == "recording"


def test_table_per_attack_and_absent_without_checked_rows() -> None:
    rows = pd.concat([_rows("fgsm", [1, 1], [0, 0], [1, 1]), _rows("bim", [0, 0], [0, 0], [0, 0])])
    table = table_resynthesis(rows, SETTINGS, "note")
    assert table is not None and table.name == "W02_resynthesis"
    assert table.display["attack"].tolist() == ["FGSM", "BIM"]
    assert table.display["still fooling as sound"].tolist()[1] == "–"  # BIM fooled nothing: no share
    assert table_resynthesis(rows.drop(columns=["y_clean_resynth", "y_adv_resynth"]), SETTINGS, "n") is None
    assert table_resynthesis(rows.assign(y_clean_resynth=-1, y_adv_resynth=-1), SETTINGS, "n") is None
