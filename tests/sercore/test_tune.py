"""Hyperband: two-trial runs of both stages complete and return their trial tables."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd
import pytest

from sercore.data import Prepared
from sercore.specs import CorpusSpec, DataSpec, ModelSpec, TuneJob
from sercore.tune import tune_prepared
from tests.sercore.test_train import toy  # noqa: F401  (fixture)


def _job(stage: int) -> TuneJob:
    return TuneJob(
        stage=stage,
        data=DataSpec(corpus=CorpusSpec(name="synthetic")),
        model=ModelSpec(width=0.125),
        max_epochs=2,
        factor=2,
        hyperband_iterations=1,
        executions_per_trial=1,
        max_trials=2,
        lstm_units=(4, 8),
        batch_size=(8, 16),
    )


@pytest.mark.parametrize("stage", [1, 2])
def test_two_trial_hyperband(stage: int, toy: Prepared, tmp_path: Path) -> None:  # noqa: F811
    job = _job(stage)
    table = tune_prepared(job, toy, tmp_path)
    assert len(table) == 2 and table["tune_stage"].eq(stage).all()
    assert table["status"].eq("COMPLETED").all() and table["score"].notna().all()
    assert table["best"].sum() == 1
    assert table.loc[table["best"], "score"].iloc[0] == table["score"].min()  # val_loss: lower is better
    if stage == 1:
        assert set(table["lstm_units"]) <= {4, 8} and table["dropout"].isna().all()
        assert table["batch_size"].eq(32).all()
    else:
        assert set(table["batch_size"]) <= {8, 16} and table["lstm_units"].eq(256).all()
        assert set(table["learning_rate"]) <= set(job.learning_rate)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "trials.parquet"), table)
    assert (tmp_path / "best.json").is_file()
    # A rerun (requeued job) reloads the finished search instead of starting over.
    again = tune_prepared(job, toy, tmp_path)
    pd.testing.assert_frame_equal(again, table)
    assert not math.isnan(again["score"].iloc[0])


@pytest.mark.slow
def test_run_tune_on_synthetic_corpus(cache_dir: Path, tmp_path: Path) -> None:
    from sercore.env import JobEnv
    from sercore.specs import FeatureSettings
    from sercore.tune import run_tune

    data = DataSpec(corpus=CorpusSpec(name="synthetic", synthetic_per_class=4), features=FeatureSettings(augment=False))
    job = _job(1).model_copy(update={"data": data})
    table = run_tune(job, tmp_path, JobEnv(cache_dir))
    assert len(table) == 2 and table["score"].notna().all() and table["dataset"].eq("synthetic").all()


def test_bad_objective_names_the_field(tmp_path: Path) -> None:
    from sercore.env import JobEnv
    from sercore.errors import ConfigError
    from sercore.tune import run_tune

    with pytest.raises(ConfigError, match="objective"):
        run_tune(_job(1).model_copy(update={"objective": "val_f1"}), tmp_path, JobEnv(tmp_path))
