"""`python -m sercore train CORPUS [ROOT]`: train one model (Table 20 values unless overridden) and print its
test accuracy overall, male and female."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pandas as pd

from ..env import JobEnv
from ..errors import ConfigError
from ..models import PAPER_TUNED
from ..specs import ARCHS, CorpusSpec, DataSpec, ModelSpec, TrainJob, TrainSettings
from ..strict import problem_message
from ..train import run_train
from ..vocab import PROTOCOLS


def register_cli(subparsers: Any) -> None:
    p = subparsers.add_parser("train", help="train one model and print test accuracy overall/male/female")
    p.add_argument("corpus", choices=sorted(PAPER_TUNED), help="dataset name")
    p.add_argument("root", nargs="?", default=None, help="corpus folder (not for synthetic)")
    p.add_argument("--protocol", choices=list(PROTOCOLS), default="paper")
    p.add_argument("--arch", choices=list(ARCHS), default="final")
    p.add_argument("--epochs", type=int, default=TrainSettings().epochs, help="maximum epochs (default 100)")
    p.add_argument("--width", type=float, default=1.0, help="width multiplier (1.0 = paper)")
    p.add_argument("--output", choices=["softmax", "logits"], default="softmax",
                   help="model head: softmax (paper) or logits (attacks take the logits; docs/models.md)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--batch-size", type=int, default=None, help="default: the paper's tuned value (Table 20)")
    p.add_argument("--learning-rate", type=float, default=None, help="default: the paper's tuned value")
    p.add_argument("--monitor", choices=["val_loss", "val_accuracy"], default="val_loss",
                   help="early stopping / LR schedule monitor (paper: val_loss)")
    p.add_argument("--patience", type=int, default=TrainSettings().early_stopping_patience,
                   help="early stopping patience (paper: 10)")
    p.add_argument("--lr-patience", type=int, default=TrainSettings().reduce_lr_patience,
                   help="ReduceLROnPlateau patience (paper: 6)")
    p.add_argument("--folds", type=int, default=None, help="leak-free protocol: grouped k-fold with K folds")
    p.add_argument("--fold", type=int, default=0, help="with --folds: the test fold, 0..K-1")
    p.add_argument("--speaker-independent", action="store_true", help="clean protocol: group by speaker")
    p.add_argument("--out", type=Path, default=None, help="artefact folder (default ./sertack-train/<job id>)")
    p.set_defaults(func=_cli_train)


def cli_job(args: argparse.Namespace) -> TrainJob:
    """The TrainJob the `train` command runs: Table 20 values for the corpus unless overridden."""
    tuned = PAPER_TUNED[args.corpus]
    root = str(Path(args.root).resolve()) if args.root else None
    return TrainJob(
        study="final" if args.arch == "final" else "arch",
        data=DataSpec(corpus=CorpusSpec(name=args.corpus, root=root), protocol=args.protocol, seed=args.seed,
                      folds=args.folds, fold=args.fold, speaker_independent=args.speaker_independent),
        model=ModelSpec(arch=args.arch, width=args.width, dropout=tuned.dropout, lstm_dropout=tuned.lstm_dropout,
                        output=args.output),
        train=TrainSettings(
            epochs=args.epochs,
            batch_size=args.batch_size or tuned.batch_size,
            learning_rate=args.learning_rate or tuned.learning_rate,
            monitor=args.monitor,
            early_stopping_patience=args.patience,
            reduce_lr_patience=args.lr_patience,
        ),
    )


def _cli_train(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    try:
        job = cli_job(args)
    except ValidationError as exc:
        err = exc.errors()[0]
        flag = f"--{str(err['loc'][-1]).replace('_', '-')}" if err["loc"] else "train"
        raise ConfigError(f"{flag}: {problem_message(err)}") from exc
    out = args.out or Path("sertack-train") / job.job_id
    row = run_train(job, out, JobEnv.default()).iloc[0]
    print(
        f"{row['dataset']} {row['protocol']} {row['arch']} width={row['width']} seed={row['seed']}"
        + (f" fold={row['fold']}/{row['folds']}" if pd.notna(row.get("folds")) else "") + f" monitor={row['monitor']}: "
        f"{row['epochs_run']} epochs (best {row['best_epoch']}) in {row['train_s']:.0f} s, "
        f"n_train={row['n_train']} n_val={row['n_val']} n_test={row['n_test']}"
    )
    print(
        f"test accuracy overall {row['accuracy']:.4f}  male {row['accuracy_male']:.4f} (n={row['n_test_male']})  "
        f"female {row['accuracy_female']:.4f} (n={row['n_test_female']})"
    )
    print(f"artefacts: {out}")
    return 0
