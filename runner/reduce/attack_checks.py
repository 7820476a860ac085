"""Attack-failure checks on every attack cell (configuration x model): a number under attack is only a measure of
robustness if the attack worked as an attack. Each check gives a flag with a one-line reason; R02 shows the flags
beside its numbers and R03 lists every flag raised.

Checks (the field's usual suspects: AutoAttack's reliability flags, ART's loss_gradient_check, Carlini et al.'s
"On Evaluating Adversarial Robustness"):
- `unchanged`: the attack changed no prediction, or left most samples unperturbed (L0 = 0);
- `above_clean`: accuracy under attack above clean accuracy on the same samples (the attack repaired mistakes);
- `non_monotone`: within a sweep (same attack, every other parameter equal), a larger budget leaves a higher robust
  accuracy than a smaller one on the same samples;
- `iterative_weaker`: an iterative attack (BIM, PGD) leaves a higher robust accuracy than FGSM at the same eps and
  norm on the same samples;
- `gradient`: samples whose loss gradient at the clean input is all zero, NaN or inf (job column `grad_flag`);
  gradient-free attacks are not flagged;
- `stochastic`: the model gave different outputs for one input predicted twice (job column `stochastic`);
- `unbounded` (per model, from its check job: `stages.attack.checks: {unbounded: true}`, ART's SecurityCurve idea):
  a gradient attack whose budget no input range reaches (PGD L-inf, eps 100 standardised log-Mel units against
  clip ranges of about 10 to 30) can move every input anywhere in the clip box, so it must leave robust accuracy
  near zero. Near zero means at most UNBOUNDED_MAX = 0.05: a working attack leaves 0 (Carlini et al., "On
  Evaluating Adversarial Robustness", 2019: unbounded attacks must reach 100 % success), and 0.05 tolerates one
  sample in twenty where fixed sign steps stall, while a masked gradient leaves most samples right (a sign-masked
  model: every one). Below 20 samples a single survivor exceeds it: on purpose, the claim is ~0. Raised, the flag
  sits beside every gradient-attack cell of that model (R02) and in R03, with the check's own number.
Monotonicity and single- vs multi-step compare robust accuracy (right before and under the attack): the paper's
metric is not monotone in the budget even for a working attack, because attacks on predicted labels repair
mistakes. Cells are per seed; the checks look at all samples of a cell (not per gender).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any, cast

import numpy as np
import pandas as pd

from sercore import vocab

from . import aggregate as agg
from .params import ParamKey
from .render import Table

MODEL_KEYS = ["dataset", "protocol", "labels", "estimator", "model_output", "seed"]
CELL_KEYS = [*agg.ATTACK_KEYS, "seed"]
FLAG_COLUMNS = [*CELL_KEYS, "check", "reason"]
# A cell is "unchanged" when more than this share of its samples was not perturbed at all.
UNPERTURBED_SHARE = 0.5
# Parameters where a larger value gives the attack more room (ART names): eps, iterations, JSMA's fraction of
# cells, PixelAttack's cells, C&W's binary-search steps.
BUDGET_PARAMS = ("eps", "max_iter", "gamma", "th", "binary_search_steps")
ITERATIVE = ("bim", "pgd")  # compared with `SINGLE_STEP` at the same eps and norm
SINGLE_STEP = "fgsm"
GRADIENT_FREE = ("pixel", "boundary", "square", "hopskipjump")  # use no loss gradient: `gradient` does not apply
TOL = 1e-9
UNBOUNDED = "unbounded"
UNBOUNDED_MAX = 0.05  # robust accuracy an unbounded attack may leave (module docstring: why)
CHECKS = {
    "unchanged": "the attack changed no prediction, or left most samples unperturbed",
    "above_clean": "accuracy under attack above clean accuracy (the attack repaired mistakes)",
    "non_monotone": "a larger budget of the same attack left a higher robust accuracy",
    "iterative_weaker": "an iterative attack weaker than FGSM at the same eps and norm",
    "gradient": "samples with an all-zero, NaN or inf loss gradient at the clean input",
    "stochastic": "the model's outputs differ between two predictions of one input",
    UNBOUNDED: f"an attack with an unbounded budget left robust accuracy above {UNBOUNDED_MAX:g} (per model)",
}


def _flag(key: tuple, check: str, reason: str) -> dict[str, Any]:
    return {**dict(zip(CELL_KEYS, key, strict=True)), "check": check, "reason": reason}


def _robust(rows: pd.DataFrame) -> pd.Series:
    return ((rows.y_adv == rows.y_true) & (rows.y_clean == rows.y_true)).astype(float)


def check_unchanged(key: tuple, cell: pd.DataFrame) -> list[dict]:
    n = len(cell)
    changed = int((cell.y_adv != cell.y_clean).sum())
    if changed == 0:
        return [_flag(key, "unchanged", f"changed 0 of {n} predictions")]
    size = cell["l0"] if "l0" in cell else cell.get("linf")
    if size is None:
        return []
    still = int((pd.to_numeric(size, errors="coerce") == 0).sum())
    if still > UNPERTURBED_SHARE * n:
        return [_flag(key, "unchanged", f"left {still} of {n} samples unperturbed (L0 = 0; {changed} predictions "
                      "changed)")]
    return []


def check_above_clean(key: tuple, cell: pd.DataFrame) -> list[dict]:
    adv, clean = float((cell.y_adv == cell.y_true).mean()), float((cell.y_clean == cell.y_true).mean())
    if adv <= clean + TOL:
        return []
    fixed = int(((cell.y_clean != cell.y_true) & (cell.y_adv == cell.y_true)).sum())
    return [_flag(key, "above_clean", f"accuracy under attack {adv:.3f} above clean accuracy {clean:.3f} "
                  f"({fixed} of {len(cell)} samples repaired)")]


def check_gradient(key: tuple, cell: pd.DataFrame) -> list[dict]:
    if "grad_flag" not in cell or key[CELL_KEYS.index("attack")] in GRADIENT_FREE:
        return []
    known = cell.grad_flag.dropna().astype(str)
    bad = known[known != "ok"]
    if bad.empty:
        return []
    counts = ", ".join(f"{int((bad == k).sum())} {k}" for k in ("zero", "nan", "inf"))
    return [_flag(key, "gradient", f"{len(bad)} of {len(known)} samples have a degenerate loss gradient at the "
                  f"clean input ({counts})")]


def check_stochastic(key: tuple, cell: pd.DataFrame) -> list[dict]:
    if "stochastic" not in cell:
        return []
    known = cell.stochastic.dropna().astype(bool)
    if not known.any():
        return []
    return [_flag(key, "stochastic", f"two predictions of one input differed on {int(known.sum())} of {len(known)} "
                  "samples (a randomised model: a single gradient is no attack on it)")]


CELL_CHECKS = (check_unchanged, check_above_clean, check_gradient, check_stochastic)


def _paired(robust: pd.DataFrame, a: tuple, b: tuple) -> tuple[float, float, int]:
    """Robust accuracy of configurations a and b on the samples both attacked."""
    both = robust[[a, b]].dropna()
    if both.empty:
        return math.nan, math.nan, 0
    return float(both[a].mean()), float(both[b].mean()), len(both)


def _model_grid(grp: pd.DataFrame) -> pd.DataFrame:
    """sample x (attack, params) -> 1.0 robust / 0.0 not / NaN not attacked."""
    return grp.assign(_r=_robust(grp)).pivot_table(index="sample", columns=["attack", "params"], values="_r",
                                                   aggfunc="min")


def _sweeps(configs: list[tuple[str, ParamKey]], name: str) -> list[list[tuple[float, tuple[str, ParamKey]]]]:
    """Groups of configurations of one attack that differ only in the numeric parameter `name`, by its value."""
    groups: dict[tuple, list] = {}
    for attack, params in configs:
        d = agg.param_values(params)
        value = d.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        rest = json.dumps({k: v for k, v in d.items() if k != name}, sort_keys=True)
        groups.setdefault((attack, rest), []).append((float(value), (attack, params)))
    return [sorted(g) for g in groups.values() if len({v for v, _ in g}) > 1]


def _configs(robust: pd.DataFrame) -> list[tuple[str, ParamKey]]:
    """The (attack, params) columns of a model's grid."""
    return [(str(c[0]), cast(ParamKey, c[1])) for c in robust.columns.to_list()]


def check_budget(model: tuple, robust: pd.DataFrame) -> list[dict]:
    """non_monotone: per sweep of a budget parameter, each larger budget against every smaller one."""
    out = []
    for name in BUDGET_PARAMS:
        for sweep in _sweeps(_configs(robust), name):
            for j, (vj, cj) in enumerate(sweep):
                worst = None
                for vi, ci in sweep[:j]:  # smaller budgets (a sweep's values are distinct)
                    acc_j, acc_i, n = _paired(robust, cj, ci)
                    if n and acc_j > acc_i + TOL and (worst is None or acc_i < worst[1]):
                        worst = (vi, acc_i, acc_j, n)
                if worst:
                    vi, acc_i, acc_j, n = worst
                    out.append(_flag(_cell(model, cj), "non_monotone", f"robust accuracy {acc_j:.3f} at {name}="
                                     f"{vj:g} above {acc_i:.3f} at {name}={vi:g} ({n} samples, other parameters "
                                     "equal)"))
    return out


def _norm(d: Mapping[str, Any]) -> str:
    return str(d.get("norm", "inf"))  # BIM is L-inf only and has no norm parameter


def check_iterative(model: tuple, robust: pd.DataFrame) -> list[dict]:
    """iterative_weaker: each BIM/PGD configuration against every FGSM one with the same eps and norm."""
    configs = _configs(robust)
    single = [c for c in configs if c[0] == SINGLE_STEP and not agg.param_values(c[1]).get("minimal", False)]
    out = []
    for cfg in (c for c in configs if c[0] in ITERATIVE):
        d = agg.param_values(cfg[1])
        for ref in single:
            r = agg.param_values(ref[1])
            if _norm(r) != _norm(d) or not np.isclose(float(r.get("eps", math.nan)), float(d.get("eps", math.nan))):
                continue
            acc_it, acc_one, n = _paired(robust, cfg, ref)
            if n and acc_it > acc_one + TOL:
                out.append(_flag(_cell(model, cfg), "iterative_weaker", f"robust accuracy {acc_it:.3f} above FGSM's "
                                 f"{acc_one:.3f} at eps={d.get('eps')}, norm={_norm(d)} ({n} samples)"))
                break
    return out


def _cell(model: tuple, config: tuple[str, ParamKey]) -> tuple:
    m = dict(zip(MODEL_KEYS, model, strict=True))
    c = {**m, "attack": config[0], "params": config[1]}
    return tuple(c[k] for k in CELL_KEYS)


def unbounded_results(checks: pd.DataFrame) -> pd.DataFrame:
    """Per unbounded check job's cell (CELL_KEYS: one per model and seed): samples attacked, samples right before,
    samples right before and under it, robust accuracy, and whether that exceeds UNBOUNDED_MAX."""
    cols = [*CELL_KEYS, "n", "clean_right", "robust", "robust_accuracy", "flagged"]
    if checks.empty or "check" not in checks:
        return pd.DataFrame(columns=cols)
    out = []
    for key, cell in checks[checks.check == UNBOUNDED].groupby(CELL_KEYS, dropna=False, sort=False):
        robust = _robust(cell)
        acc = float(robust.mean())
        out.append({**dict(zip(CELL_KEYS, key, strict=True)), "n": len(cell),
                    "clean_right": int((cell.y_clean == cell.y_true).sum()), "robust": int(robust.sum()),
                    "robust_accuracy": acc, "flagged": acc > UNBOUNDED_MAX + TOL})
    return pd.DataFrame(out, columns=cols)


def check_unbounded(results: pd.DataFrame) -> list[dict]:
    """unbounded: one flag per model whose unbounded check left robust accuracy above UNBOUNDED_MAX."""
    out = []
    for r in results[results.flagged.astype(bool)].to_dict("records"):
        name = vocab.ATTACK_DISPLAY.get(str(r["attack"]), str(r["attack"]))
        out.append(_flag(tuple(r[k] for k in CELL_KEYS), UNBOUNDED,
                         f"{name} ({agg.params_label(r['params'])}) leaves robust accuracy "
                         f"{r['robust_accuracy']:.3f} ({r['robust']} of {r['n']} samples right before and under it; "
                         f"near zero means <= {UNBOUNDED_MAX:g}): gradients may be masked"))
    return out


def attack_flags(rows: pd.DataFrame, checks: pd.DataFrame | None = None) -> pd.DataFrame:
    """Every flag raised on the keyed attack rows (runner.reduce.aggregate.keyed_attack_rows) and the keyed rows
    of the failure-check jobs (`checks`, RunData.check_frame): FLAG_COLUMNS."""
    out: list[dict] = check_unbounded(unbounded_results(checks if checks is not None else pd.DataFrame()))
    if rows.empty:
        return pd.DataFrame(out, columns=FLAG_COLUMNS)
    for key, cell in rows.groupby(CELL_KEYS, dropna=False, sort=False):
        for check in CELL_CHECKS:
            out += check(key, cell)
    for model, grp in rows.groupby(MODEL_KEYS, dropna=False, sort=False):
        robust = _model_grid(grp)
        out += check_budget(model, robust) + check_iterative(model, robust)
    return pd.DataFrame(out, columns=FLAG_COLUMNS)


def flags_by_config(flags: pd.DataFrame, configs: pd.DataFrame | None = None) -> dict[tuple, str]:
    """ATTACK_KEYS values as text -> the checks raised on any seed of that configuration ('unchanged, gradient').
    An `unbounded` flag is the model's: it goes to every gradient-attack configuration of `configs` (ATTACK_KEYS
    columns) on that model."""
    if flags.empty:
        return {}
    found: dict[tuple, set[str]] = {}
    for key, grp in flags[flags.check != UNBOUNDED].groupby(agg.ATTACK_KEYS, dropna=False, sort=False):
        found.setdefault(tuple(map(str, key)), set()).update(grp.check)
    model = [k for k in agg.ATTACK_KEYS if k not in ("attack", "params")]
    masked = {tuple(map(str, k)) for k in flags.loc[flags.check == UNBOUNDED, model].itertuples(index=False)}
    for cfg in (configs if configs is not None and masked else pd.DataFrame()).to_dict("records"):
        if tuple(str(cfg[k]) for k in model) in masked and cfg["attack"] not in GRADIENT_FREE:
            found.setdefault(tuple(str(cfg[k]) for k in agg.ATTACK_KEYS), set()).add(UNBOUNDED)
    order = list(CHECKS)
    return {key: ", ".join(sorted(checks, key=order.index)) for key, checks in found.items()}


def unbounded_note(results: pd.DataFrame) -> str:
    """R03's line on the unbounded check: what ran, the range of what it left, how many models it flagged."""
    if results.empty:
        return ("Not checked in this run: that an unbounded attack drives robust accuracy to ~0 (turn it on with "
                "stages.attack.checks: {unbounded: true}: one PGD job per model).")
    configs = ", ".join(sorted({f"{vocab.ATTACK_DISPLAY.get(str(a), str(a))} ({agg.params_label(p)})"
                                for a, p in zip(results.attack, results.params, strict=True)}))
    acc = results.robust_accuracy
    return (f"Unbounded check on {len(results)} model(s) (one job each, its rows in no robustness table): {configs} "
            f"leaves robust accuracy {acc.min():.3f} to {acc.max():.3f}; {int(results.flagged.sum())} above "
            f"{UNBOUNDED_MAX:g} (flag `unbounded`).")


def table_attack_checks(flags: pd.DataFrame, variants: list[str], configs: pd.DataFrame,
                        unbounded: pd.DataFrame | None = None) -> Table:
    """R03: one row per raised flag (configuration, seed, check, reason); 'none' when no check fired.
    `unbounded`: unbounded_results of the run's check jobs (the note says what they left)."""
    notes = ["Checks: " + "; ".join(f"{k}: {v}" for k, v in CHECKS.items()) + ".",
             "Per attack configuration and seed (model), on all attacked samples. Robust accuracy = right before "
             "and under the attack.", unbounded_note(unbounded if unbounded is not None else pd.DataFrame())]
    if flags.empty:
        frame = pd.DataFrame([{"check": "none", "reason": "no check fired on any attack cell"}])
        frame.attrs["labels"] = 2
        return Table("R03_attack_checks", "Attack-failure checks: every flag raised", frame, flags, notes)
    swept = {a: agg.swept_params(g.params) for a, g in configs.groupby("attack")} if not configs.empty else {}
    ranked = flags.assign(_d=flags.dataset.map(vocab.corpus_rank), _a=flags.attack.map(vocab.attack_rank),
                          _c=flags.check.map(list(CHECKS).index))
    ranked = ranked.sort_values([*variants, "_d", "_a", "params", "seed", "_c"])
    display = [{**{v: r[v] for v in variants}, "dataset": vocab.CORPUS_DISPLAY.get(r.dataset, r.dataset),
                "attack": vocab.ATTACK_DISPLAY.get(r.attack, r.attack),
                "parameters": _parameters(r, swept), "seed": r.seed, "check": r.check, "reason": r.reason}
               for _, r in ranked.iterrows()]
    frame = pd.DataFrame(display)
    frame.attrs["labels"] = len(frame.columns)
    return Table("R03_attack_checks", "Attack-failure checks: every flag raised", frame,
                 flags.reset_index(drop=True), notes)


def _parameters(r: Any, swept: dict[Any, list[str]]) -> str:
    """R03's parameter cell: the swept ones; every one for the unbounded check (its job is no cell of a sweep)."""
    if r.check == UNBOUNDED:
        return f"unbounded check: {agg.params_label(r.params)}"
    return agg.params_label(r.params, swept.get(r.attack) or None) if swept.get(r.attack) else "(one setting)"
