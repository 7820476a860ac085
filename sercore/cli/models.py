"""`python -m sercore models [--json]`: the architectures with their parameter counts."""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from ..models import ARCHITECTURES, parameter_counts


def register_cli(subparsers: Any) -> None:
    p = subparsers.add_parser("models", help="list the architectures with their parameter counts")
    p.add_argument("--classes", type=int, default=5, help="number of output classes (default 5)")
    p.add_argument("--width", type=float, default=1.0, help="width multiplier (default 1.0 = paper)")
    p.add_argument("--json", action="store_true", help="print a JSON object {arch: parameters}")
    p.set_defaults(func=_cli_models)


def _cli_models(args: argparse.Namespace) -> int:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    counts = parameter_counts(args.classes, args.width)
    if args.json:
        print(json.dumps(counts))
        return 0
    for arch, n in counts.items():
        a = ARCHITECTURES[arch]
        cnn = ", ".join(f"{b.filters}@{b.kernel}x{b.kernel}/pool{b.pool}s{b.stride}" for b in a.blocks)
        rnn = f"{'Bi' if a.bidirectional else ''}LSTM {a.lstm_units}"
        print(f"{arch:6s} {n:>10,d}  {cnn}; {rnn}")
    return 0
