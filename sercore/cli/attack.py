"""`python -m sercore attack MODEL_DIR`: attack a trained model (one configuration per attack) and print
accuracy under attack by gender."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import pandas as pd

from .. import io
from ..attack_job import run_attack, summarize
from ..attack_params import AnyParams, parse_params
from ..attacks import ATTACKS, PAPER_GRID, attack_info
from ..env import JobEnv
from ..errors import ConfigError
from ..specs import AttackJob, TrainJob


def register_cli(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "attack", help="attack a trained model (one configuration per attack) and print accuracy under attack by gender"
    )
    p.add_argument("model_dir", type=Path, help="a train job's artefact folder (model.keras, summary.json)")
    p.add_argument("--attacks", default="all", help=f"comma-separated names or 'all' ({', '.join(ATTACKS)})")
    p.add_argument("--set", action="append", default=[], metavar="ATTACK.PARAM=VALUE",
                   help="override a parameter (default: the paper's value; first value of a paper sweep)")
    p.add_argument("--limit", type=int, default=None, help="attack only the first N test samples")
    p.add_argument("--labels", choices=["predicted", "true"], default="predicted")
    p.add_argument("--estimator", choices=["compiled", "stock"], default="compiled")
    p.add_argument("--chunk-size", type=int, default=AttackJob.model_fields["chunk_size"].default)
    p.add_argument("--batch-size", type=int, default=AttackJob.model_fields["batch_size"].default)
    p.add_argument("--out", type=Path, default=None, help="work folder (default MODEL_DIR/attacks)")
    p.set_defaults(func=_cli_attack)


def cli_params(names: list[str], sets: list[str]) -> dict[str, AnyParams]:
    """`--set fgsm.eps=0.5` overrides, values read as YAML scalars; checked like a grid."""
    import yaml

    params: dict[str, dict[str, Any]] = {n: {} for n in names}
    for item in sets:
        key, sep, value = item.partition("=")
        attack, dot, name = key.partition(".")
        if not sep or not dot or attack not in params:
            raise ConfigError(f"--set {item}: expected ATTACK.PARAM=VALUE with ATTACK one of {', '.join(names)}")
        params[attack][name] = yaml.safe_load(value)
    return {n: parse_params(n, p) for n, p in params.items()}


def _cli_attack(args: argparse.Namespace) -> int:
    summary = args.model_dir / "summary.json"
    if not summary.exists():
        raise ConfigError(f"{summary}: not found (MODEL_DIR must be a finished train job's folder)")
    target = TrainJob.model_validate(json.loads(summary.read_text())["job"])
    names = list(ATTACKS) if args.attacks == "all" else [a.strip() for a in args.attacks.split(",")]
    for n in names:
        attack_info(n)
    try:
        params = cli_params(names, args.set)
    except ConfigError as exc:
        raise ConfigError(f"--set: {exc}") from exc
    out = args.out or args.model_dir / "attacks"
    env = JobEnv.default(upstream=args.model_dir)
    frames = []
    print(f"{'attack':9s} {'n':>4s} {'clean':>6s} {'adv':>6s} {'male':>6s} {'female':>6s} {'success':>7s} "
          f"{'perturb':>8s} {'gen_s':>8s}  params")
    for name in names:
        job = AttackJob(target=target, attack=name, params=params[name], labels=args.labels,
                        estimator=args.estimator, limit=args.limit, chunk_size=args.chunk_size,
                        batch_size=args.batch_size)
        rows = run_attack(job, out / f"{name}-{job.job_id}", env)
        frames.append(rows)
        s = summarize(rows)
        swept = {k: v for k, v in params[name].kwargs().items() if len(PAPER_GRID.get(name, {}).get(k, [])) > 1}
        print(f"{name:9s} {s['n']:4d} {s['clean']:6.3f} {s['accuracy']:6.3f} {s['accuracy_male']:6.3f} "
              f"{s['accuracy_female']:6.3f} {s['success']:7.3f} {s['perturbation']:8.4f} {s['generate_s']:8.1f}  "
              f"{json.dumps(swept) if swept else ''}", flush=True)
    table = pd.concat(frames, ignore_index=True)
    io.write_parquet(table, out / "attacks.parquet")
    print(f"rows: {out / 'attacks.parquet'} (n_male={s['n_male']}, n_female={s['n_female']}; "
          "accuracy under attack against true labels, ART attacking the predicted labels)")
    return 0
