"""Tidy CSVs for the tables built on the attack summaries: each table's own rows and cells, one row per cell.

The attack tables (T04-T06, T23-T43 and T27, T44-T48) keep the whole per-configuration summary as `Table.data`
(figures, the paper comparison and tests read its columns), which made their CSVs one identical 82-column dump.
Their CSV is now `Table.csv`: the table's rows only (its best configurations, or its sweep's configurations, and
the "Original" no-attack row where the table has one), keys as columns (`attack` is the specific attack: cw_l2,
not the C&W family), one row per cell (`group` all / male / female where the table splits by gender), numbers
unformatted, the 95 % CI bounds as `<measure>_ci_lo` / `_ci_hi` (over `ci_over`: whole test recordings), units in
the names (`perturbation_z_*`: standardised log-Mel units; `time_s_*`: seconds for the attacked samples,
summed over slices; accuracy and success rate are shares 0-1), `<measure>_ci_recordings` (the cells' "N rec."),
and `incomplete` for a † cell. Everything else the summary holds per configuration (segment-level intervals,
design effects, the C&W family rows) is written once, as tables/attack_summary.csv (`SUMMARY_CSV`).
"""

from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from sercore import vocab

from . import aggregate as agg
from .params import ParamKey
from .render import Table
from .summary import Summary

SUMMARY_CSV = "attack_summary"
GROUPS = {"all": "", "male": "_male", "female": "_female"}
KEYS = ["attack", *[k for k in agg.ATTACK_KEYS if k != "attack"]]
ORIGINAL = "original (no attack)"
STEMS = {"accuracy": "accuracy", "perturbation": "perturbation_z", "success_rate": "success_rate",
         "time_s": "time_s", "loss": "loss", "clean_accuracy": "accuracy"}


def _key(r: pd.Series) -> dict[str, object]:
    """The cell's keys, `attack` the specific one (source_attack: cw_l2 rather than the C&W family `cw`)."""
    out = {k: r.get(k) for k in KEYS}
    if isinstance(r.get("source_attack"), str):
        out["attack"] = r["source_attack"]
    return out


def _incomplete(r: pd.Series, s: Summary) -> bool:
    key = tuple((r.source_attack if k == "attack" and isinstance(r.get("source_attack"), str) else r[k])
                for k in agg.ATTACK_KEYS)
    return key in s.attack_incomplete


def _measure(r: pd.Series, metric: str, stem: str) -> dict[str, object]:
    """mean and std over seeds, and the CI bounds where the metric has them (time and loss have none)."""
    out = {f"{stem}_mean": r.get(f"{metric}_mean"), f"{stem}_std": r.get(f"{metric}_std")}
    if f"{metric}_lo" in r.index:
        out.update({f"{stem}_ci_lo": r.get(f"{metric}_lo"), f"{stem}_ci_hi": r.get(f"{metric}_hi")})
    if f"{metric}_n_eff" in r.index:  # the cells' "(N rec.)"
        out[f"{stem}_ci_recordings"] = r.get(f"{metric}_n_eff")
    return out


def _tail(r: pd.Series, s: Summary) -> dict[str, object]:
    return {"n_samples": r.get("n_mean"), "n_seeds": r.get("n_seeds"), "ci_over": r.get("ci_unit"),
            "incomplete": _incomplete(r, s)}


def _ordered(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows in the tables' order: attack (paper order; the no-attack row last, as Tables 5 and 47 show it),
    corpus, then the rest; columns: keys, the parameters one each (`param_<name>`), then the measures."""
    if frame.empty:
        return frame
    params = sorted(c for c in frame.columns if c.startswith("param_"))
    rest = [c for c in frame.columns if c not in KEYS and c not in params]
    frame = frame[[*[k for k in KEYS if k in frame], *params, *rest]]
    if "incomplete" in frame:
        frame = frame.assign(incomplete=frame.incomplete.astype("boolean").fillna(False).astype(bool))

    def key(i: int) -> tuple:
        r = frame.iloc[i]
        attack = (10**6, "") if r.attack == ORIGINAL else vocab.attack_rank(str(r.attack))
        return (attack, vocab.corpus_rank(str(r.dataset)), str(r.get("protocol")), str(r.get("params")))

    return frame.iloc[sorted(range(len(frame)), key=key)].reset_index(drop=True)


def best_cells(s: Summary, metric: str, groups: dict[str, str], original: bool = False) -> pd.DataFrame:
    """One row per (best configuration, group) with `metric`; `original` adds the no-attack rows (clean
    accuracy of the attacked samples, the mean over the attacks' best configurations, as the table shows)."""
    stem = STEMS[metric]
    rows = [{**_key(r), **({"group": g} if len(groups) > 1 else {}), **_measure(r, f"{metric}{suf}", stem),
             **_tail(r, s)} for _, r in s.paper_best.iterrows() for g, suf in groups.items()]
    if original and len(s.paper_best):
        keys = [k for k in agg.ATTACK_KEYS if k not in ("attack", "params")]
        for vals, grp in s.paper_best.groupby(keys, dropna=False, sort=False):
            for g, suf in groups.items():
                col = f"clean_accuracy{suf}_mean"
                rows.append({**dict(zip(keys, vals, strict=True)), "attack": ORIGINAL, "params": "",
                             **({"group": g} if len(groups) > 1 else {}),
                             f"{stem}_mean": grp[col].mean() if col in grp else float("nan")})
    return _ordered(pd.DataFrame(rows))


def _param_columns(params: object) -> dict[str, object]:
    """`param_<name>` per parameter of a configuration (none for a row without one)."""
    return {f"param_{k}": v for k, v in agg.param_values(params).items()} if isinstance(params, ParamKey) else {}


def best_configs(s: Summary) -> pd.DataFrame:
    """T04: the chosen configuration per attack and corpus, its parameters as JSON and one column each."""
    rows = []
    for _, r in s.paper_best.iterrows():
        params = _param_columns(r.params)
        rows.append({**_key(r), **params, "accuracy_mean": r.get("accuracy_mean"),
                     "perturbation_z_mean": r.get("perturbation_mean"), "incomplete": _incomplete(r, s)})
    return _ordered(pd.DataFrame(rows))


def ranks(s: Summary, ranked: pd.DataFrame, metric: str) -> pd.DataFrame:
    """T45 / T46: each corpus's value and its rank within the attack (1 = lowest)."""
    stem = STEMS[metric]
    rows = [{**_key(r), f"{stem}_mean": r.get(f"{metric}_mean"), "rank": r.get("rank"),
             "incomplete": _incomplete(r, s)} for _, r in ranked.iterrows()]
    return _ordered(pd.DataFrame(rows))


def sweep_rows(s: Summary, configs: pd.DataFrame, loss: bool = False) -> pd.DataFrame:
    """T23-T43: one row per configuration with every measure the table shows; T27 (`loss`): the BIM loss."""
    metrics = ["loss", "loss_male", "loss_female"] if loss else \
        ["accuracy", "accuracy_male", "accuracy_female", "success_rate", "perturbation", "time_s"]
    rows = []
    for _, r in configs.iterrows():
        params = _param_columns(r.params)
        rec = {**_key(r), **params}
        for m in metrics:
            base = m.split("_male")[0].split("_female")[0]
            stem = STEMS.get(base, base) + m[len(base):]
            rec.update(_measure(r, m, stem))
        rows.append({**rec, **_tail(r, s)})
    return _ordered(pd.DataFrame(rows))


def attach(tables: list[Table], s: Summary) -> list[Table]:
    """Give each attack-summary table its tidy CSV (`Table.csv`); other tables keep their own `data`."""
    builders: dict[str, Callable[[Table], pd.DataFrame]] = {
        "T04_best_config": lambda t: best_configs(s),
        "T05_accuracy_by_gender": lambda t: best_cells(s, "accuracy", GROUPS, original=True),
        "T06_perturbation_by_gender": lambda t: best_cells(s, "perturbation", GROUPS),
        "T44_best_time": lambda t: best_cells(s, "time_s", {"all": ""}),
        "T45_rank_accuracy": lambda t: ranks(s, t.data, "accuracy"),
        "T46_rank_perturbation": lambda t: ranks(s, t.data, "perturbation"),
        "T47_gender_accuracy": lambda t: best_cells(s, "accuracy", {"female": "_female", "male": "_male"},
                                                    original=True),
        "T48_gender_perturbation": lambda t: best_cells(s, "perturbation", {"female": "_female", "male": "_male"}),
        "T27_bim_loss": lambda t: sweep_rows(s, _configs(s, "bim"), loss=True),
    }
    for t in tables:
        if t.name in builders:
            t.csv = builders[t.name](t)
        elif t.name.startswith("T23-T43_") and t.name.endswith("_sweep"):
            t.csv = sweep_rows(s, _configs(s, t.name.removeprefix("T23-T43_").removesuffix("_sweep")))
    return tables


def _configs(s: Summary, attack: str) -> pd.DataFrame:
    return s.attack_configs[s.attack_configs.attack == attack]
