"""benchmarks/typical.py's fit: the `typical` that makes an attack's formula give the evaluations a run counted,
per configuration and pooled over configurations and models."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest

from sercore.attack_params import parse_params

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "typical.py"
spec = importlib.util.spec_from_file_location("typical", SCRIPT)
assert spec is not None and spec.loader is not None
typical = importlib.util.module_from_spec(spec)
spec.loader.exec_module(typical)


def counted_row(attack: str, params: dict, t: float, n: int = 64, batch: int = 16) -> dict:
    """A configuration whose n samples made exactly the evaluations the formula gives at fraction t."""
    evals = parse_params(attack, params).evals(5, batch, t)
    return {"attack": attack, "params": json.dumps(params), "batch": batch, "n": n,
            "F": n * sum(c for k, c, _ in evals if k == "F"), "G": n * sum(c for k, c, _ in evals if k == "G")}


def test_the_fit_recovers_the_fraction_and_pools_by_samples() -> None:
    rows = [typical.fit(counted_row("jsma", {"theta": -1.0}, 0.12), 5),
            typical.fit(counted_row("jsma", {"theta": 1.0}, 0.06, n=192), 5),
            typical.fit(counted_row("deepfool", {"max_iter": 5}, 0.125), 5),
            typical.fit(counted_row("deepfool", {"max_iter": 1}, 0.5), 5)]
    assert [r["typical_fit"] for r in rows] == [pytest.approx(0.12), pytest.approx(0.06), pytest.approx(0.125), None]
    pooled = typical.pooled(rows)
    # one formula for both JSMA rows (same bound): the sample-weighted mean; DeepFool at max_iter 1 has no t
    assert pooled["jsma"] == pytest.approx((64 * 0.12 + 192 * 0.06) / 256, abs=1e-4)
    assert pooled["deepfool"] == pytest.approx(0.125)
