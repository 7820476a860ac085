"""Hyperband tuning in the paper's two stages (keras-tuner), one dataset per job.

Stage 1 (paper Table 18): the width of M1's bidirectional LSTM, units in {4, 8, ..., 1024}; no pre-LSTM dropout,
LSTM dropout 0.2, Adam's default rate, batch 32. Stage 2 (Table 20): the final model (LSTM units from the job's
ModelSpec, 256 in the paper) with dropout, LSTM dropout, learning rate and batch size searched. The paper's code
ran Hyperband(objective val_loss, max_epochs 120, factor 15, 3 iterations, 3 executions per trial) with
EarlyStopping and ReduceLROnPlateau; TuneJob's defaults are those values, tests shrink them.

The tuner state lives in `workdir/tuner/`, reloaded on a rerun, so a requeued job continues where it stopped.
Outputs: the trial table (one row per trial, also `trials.parquet`) and `best.json`.
"""

from __future__ import annotations

import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from . import io
from .env import JobEnv, seed_everything
from .errors import ConfigError
from .models import build_model
from .specs import ModelSpec, TrainSettings, TuneJob
from .train import callbacks, check_prepared

if TYPE_CHECKING:
    import keras_tuner as kt

    from .data import Prepared

log = logging.getLogger(__name__)

STAGE1_BATCH = 32  # paper code: fit() default
STAGE1_LEARNING_RATE = 1e-3  # paper code: Adam() default


def _hypermodel(job: TuneJob, n_classes: int) -> Any:
    """keras-tuner build function for the job's stage."""
    import keras

    def build(hp: kt.HyperParameters) -> keras.Model:
        if job.stage == 1:
            units = hp.Choice("lstm_units", list(job.lstm_units))
            model = build_model(ModelSpec(arch="m1", width=job.model.width), n_classes, lstm_units=units)
            lr = STAGE1_LEARNING_RATE
        else:
            spec = job.model.model_copy(update={
                "arch": "final",
                "dropout": hp.Choice("dropout", list(job.dropout)),
                "lstm_dropout": hp.Choice("lstm_dropout", list(job.lstm_dropout)),
            })
            lr = hp.Choice("learning_rate", list(job.learning_rate))
            hp.Choice("batch_size", list(job.batch_size))  # consumed by run_trial below
            model = build_model(spec, n_classes)
        model.compile(optimizer=keras.optimizers.Adam(lr), loss="categorical_crossentropy", metrics=["accuracy"])
        return model

    return build


def _make_tuner(job: TuneJob, n_classes: int, workdir: Path) -> kt.Hyperband:
    import keras_tuner as kt

    class BatchHyperband(kt.Hyperband):
        """Hyperband that also tunes the batch size (a fit() argument), as the paper's MyTuner did."""

        def run_trial(self, trial: kt.engine.trial.Trial, *args: Any, **kwargs: Any) -> Any:
            if "batch_size" in trial.hyperparameters.values:
                kwargs["batch_size"] = trial.hyperparameters.get("batch_size")
            return super().run_trial(trial, *args, **kwargs)

    tuner = BatchHyperband(
        hypermodel=_hypermodel(job, n_classes),
        objective=job.objective,
        max_epochs=job.max_epochs,
        factor=job.factor,
        hyperband_iterations=job.hyperband_iterations,
        executions_per_trial=job.executions_per_trial,
        seed=job.data.seed,
        directory=str(workdir / "tuner"),
        project_name=f"stage{job.stage}",
        overwrite=False,
    )
    tuner.oracle.max_trials = job.max_trials  # Hyperband has no max_trials argument; the base Oracle honours it
    return tuner


def trial_table(job: TuneJob, tuner: kt.Hyperband) -> pd.DataFrame:
    """Every trial's values and score, in trial order; `best` marks the oracle's best trial."""
    trials = sorted(tuner.oracle.trials.values(), key=lambda t: t.trial_id)
    done = [t for t in trials if t.score is not None]
    best_id = tuner.oracle.get_best_trials(1)[0].trial_id if done else None
    rows = []
    for t in trials:
        hp = t.hyperparameters.values
        rows.append({
            "dataset": job.data.corpus.name,
            "protocol": job.data.protocol,
            "seed": job.data.seed,
            "tune_stage": job.stage,  # not "stage": the runner adds its own stage column
            "trial_id": str(t.trial_id),
            "status": str(t.status),
            "score": float(t.score) if t.score is not None else math.nan,
            "lstm_units": int(hp.get("lstm_units", job.model.lstm_units)),
            "dropout": float(hp["dropout"]) if "dropout" in hp else math.nan,  # stage 1: no pre-LSTM dropout
            "lstm_dropout": float(hp.get("lstm_dropout", 0.2)),
            "learning_rate": float(hp.get("learning_rate", STAGE1_LEARNING_RATE)),
            "batch_size": int(hp.get("batch_size", STAGE1_BATCH)),
            "epochs": int(hp.get("tuner/epochs", 0)),
            "bracket": int(hp.get("tuner/bracket", -1)),
            "round": int(hp.get("tuner/round", -1)),
            "width": job.model.width,
            "best": t.trial_id == best_id,
        })
    return pd.DataFrame(rows)


def tune_prepared(job: TuneJob, data: Prepared, workdir: Path) -> pd.DataFrame:
    """The body of `run_tune` once the data is in memory."""
    import keras

    check_prepared(data)
    seed_everything(job.data.seed)
    workdir = Path(workdir)
    n = len(data.classes)
    tuner = _make_tuner(job, n, workdir)
    tuner.search(
        data.x_train,
        keras.utils.to_categorical(data.y_train, n),
        validation_data=(data.x_val, keras.utils.to_categorical(data.y_val, n)),
        epochs=job.max_epochs,
        batch_size=STAGE1_BATCH,
        callbacks=callbacks(TrainSettings()),
        verbose=0,
    )
    table = trial_table(job, tuner)
    io.write_parquet(table, workdir / "trials.parquet")
    best = table[table["best"]]
    io.write_json(workdir / "best.json", best.iloc[0].to_dict() if len(best) else {})
    return table


def run_tune(job: TuneJob, workdir: Path, env: JobEnv) -> pd.DataFrame:
    """One Hyperband stage on one dataset; returns the trial table (one row per trial)."""
    from .data import prepare

    if job.objective not in ("val_loss", "val_accuracy", "loss", "accuracy"):
        raise ConfigError(f"objective: {job.objective!r} is not logged "
                          "(expected val_loss, val_accuracy, loss, accuracy)")
    return tune_prepared(job, prepare(job.data, env.cache_dir), workdir)
