"""W01 on hand-made waveform rows: robust vs paper accuracy, 16-bit undoing, budgets, recording-level CIs."""

from __future__ import annotations

import numpy as np
import pandas as pd

from runner.reduce.params import ParamKey
from runner.reduce.waveform_tables import table_waveform, waveform_cells
from sercore.stats import StatsSettings

SETTINGS = StatsSettings(resamples=200)


def _rows(snr: float | None, y_adv: list[int], y_float: list[int]) -> pd.DataFrame:
    n = len(y_adv)
    return pd.DataFrame({
        "dataset": "synthetic", "protocol": "paper", "attack": "fgsm", "params": ParamKey({"eps": 0.25}), "seed": 0,
        "snr_db": np.nan if snr is None else snr, "sample": np.arange(n), "recording": [f"r{i // 2}" for i in range(n)],
        "gender": ["male", "female"] * (n // 2), "y_true": [0] * n, "y_clean": [0, 0, 0, 1][:n] * (n // 4),
        "y_adv": y_adv, "y_adv_float": y_float, "snr_db_achieved": 30.5, "projected": False,
    })


def test_cells_count_robust_repaired_and_undone_samples() -> None:
    # sample 3 was wrong before and "repaired" to correct: paper metric counts it, robust accuracy does not.
    # sample 1: the float example fooled the model, the 16-bit file did not.
    rows = _rows(30.0, y_adv=[1, 0, 2, 0], y_float=[1, 2, 2, 0])
    cells = waveform_cells(rows, SETTINGS).set_index("gender")
    assert cells.loc["all", "robust"] == 0.25 and cells.loc["all", "accuracy"] == 0.5
    assert cells.loc["all", "undone_by_16bit"] == 1
    assert cells.loc["all", "success"] == 2 / 3  # of the 3 correct before, 2 are fooled in the WAV
    assert cells.loc["all", "n_eff"] == 2 and cells.loc["all", "ci_unit"] == "recording"


def test_table_orders_budgets_and_names_the_absolute_one() -> None:
    rows = pd.concat([_rows(20.0, [1, 1, 1, 1], [1, 1, 1, 1]), _rows(None, [0, 0, 0, 0], [0, 0, 0, 0])])
    table = table_waveform(rows, SETTINGS, "note")
    assert table is not None and table.name == "W01_waveform_snr"
    budgets = table.display[table.display.gender == "all"]["budget (SNR dB)"].tolist()
    assert budgets == ["20", "eps as given"]
    assert table_waveform(rows.iloc[:0], SETTINGS, "note") is None


def test_snr_figure_draws_one_png_per_corpus_and_model(tmp_path) -> None:
    from runner.reduce.waveform_tables import snr_figures

    rows = pd.concat([_rows(s, [1, 0, 0, 0] if s < 30 else [0, 0, 0, 1], [1, 0, 0, 0]) for s in (20.0, 30.0, 40.0)])
    table = table_waveform(rows, SETTINGS, "note")
    media = snr_figures([table], tmp_path)
    assert [m.path.name for m in media] == ["W01_snr_synthetic_paper_softmax.png"]
    assert media[0].path.stat().st_size > 10_000 and "dB SNR" in media[0].caption
    assert snr_figures([], tmp_path) == []


def test_quality_medians_skip_undefined_pesq_and_the_note_counts_why() -> None:
    from runner.reduce.waveform_tables import quality_note

    rows = _rows(30.0, [1, 0, 2, 0], [1, 0, 2, 0]).assign(
        pesq_wb=[3.0, np.nan, 4.0, 2.0], stoi=[0.9, 0.8, 0.7, 0.6], seg_snr_db=[20.0, 21.0, 22.0, 23.0],
        quality_note=["", "PESQ: no utterances detected", "", ""])
    cells = waveform_cells(rows, SETTINGS).set_index("gender")
    assert cells.loc["all", "pesq_wb_median"] == 3.0 and cells.loc["all", "pesq_missing"] == 1
    assert cells.loc["all", "stoi_median"] == 0.75 and cells.loc["all", "seg_snr_db_median"] == 21.5
    table = table_waveform(rows, SETTINGS, "note")
    assert table is not None
    assert table.display.loc[table.display.gender == "all", "PESQ wb (median)"].tolist() == ["3.00"]
    assert "PESQ: no utterances detected (1)" in " ".join(table.notes)
    old = _rows(30.0, [1, 0, 2, 0], [1, 0, 2, 0])  # shards made before the metrics: a dash, not a crash
    assert table_waveform(old, SETTINGS, "n").display["PESQ wb (median)"].eq("–").all()
    assert "not recorded" in quality_note(old)
