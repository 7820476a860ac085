"""The leak of a run holding both protocols: paper-protocol accuracy minus pooled k-fold clean accuracy, with CIs.

    python benchmarks/leak.py RUN_DIR [--json]

Reads RUN/results/train.parquet (written by `python -m runner reduce RUN_DIR` or `submit --reduce`) and prints,
per dataset and model configuration: each protocol's accuracy (all / male / female) with its 95 % bootstrap CI
over test recordings; the paper-protocol model's accuracy on the original (non-augmented) versions of its test
set only (the clean protocol tests originals only) and by how many segments of the same recording it trained
on; the leak (paper minus clean) with a CI from resampling both protocols' test recordings independently; and
the epochs run and best epochs per model.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
from scipy import stats

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from runner.paths import RunPaths  # noqa: E402
from runner.reduce.folds import N_RESAMPLES, pool_folds  # noqa: E402


def _per_recording(outcomes: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    per = outcomes.groupby("recording", sort=True)["correct"].agg(["sum", "count"])
    return per["sum"].to_numpy(float), per["count"].to_numpy(float)


def difference_ci(a: pd.DataFrame, b: pd.DataFrame, seed: int = 0) -> tuple[float, float, float]:
    """accuracy(a) - accuracy(b) and its 95 % percentile bootstrap CI, resampling each side's recordings."""
    ka, na = _per_recording(a)
    kb, nb = _per_recording(b)

    def stat(ia: np.ndarray, ib: np.ndarray, axis: int = -1) -> np.ndarray:
        ia, ib = ia.astype(int), ib.astype(int)
        return ka[ia].sum(axis) / na[ia].sum(axis) - kb[ib].sum(axis) / nb[ib].sum(axis)

    res = stats.bootstrap((np.arange(len(ka)), np.arange(len(kb))), stat, vectorized=True, paired=False,
                          n_resamples=N_RESAMPLES, method="percentile", random_state=np.random.default_rng(seed))
    point = ka.sum() / na.sum() - kb.sum() / nb.sum()
    return float(point), float(res.confidence_interval.low), float(res.confidence_interval.high)


def _mean(x: np.ndarray) -> float:
    return float(x.mean()) if len(x) else float("nan")


def paper_breakdown(paths: RunPaths, row: pd.Series) -> dict[str, float] | None:
    """A leaky model's accuracy on the original versus the augmented versions among its test segments, and by
    how many segments of the same recording it trained on (its split is recomputed from the job's DataSpec)."""
    pred_path = paths.artefacts("train", str(row["job_id"])) / "predictions.parquet"
    plan = {e["id"]: e for e in map(json.loads, paths.plan("train").read_text().splitlines())}
    if not pred_path.is_file() or row["job_id"] not in plan:
        return None
    from sercore.data import split_indices
    from sercore.specs import DataSpec
    from sercore.store import open_store
    from sercore.vocab import class_order

    data = dict(plan[row["job_id"]]["spec"]["data"])
    data.setdefault("split_seed", data.get("seed", 0))  # a plan from before split_seed split with the seed
    spec = DataSpec(**data)
    store = open_store(spec.corpus, spec.features, Path(json.loads(paths.run_meta.read_text())["cache"]))
    index = {e: i for i, e in enumerate(class_order(spec.corpus.kept_emotions))}
    split = split_indices(spec, store.meta, store.meta["emotion"].map(index).to_numpy())
    pred = pd.read_parquet(pred_path)
    seg = pred["segment"].to_numpy()
    correct = (pred["y_true"] == pred["y_pred"]).to_numpy()
    orig = store.meta["version"].to_numpy()[seg] == "original"
    siblings = store.meta["recording"].iloc[split.train].value_counts()
    k = store.meta["recording"].iloc[seg].map(siblings).fillna(0).to_numpy()
    out = {"n_original": int(orig.sum()), "accuracy_original": _mean(correct[orig]),
           "n_augmented": int((~orig).sum()), "accuracy_augmented": _mean(correct[~orig])}
    for lo, hi in ((0, 0), (1, 4), (5, 8), (9, 10**6)):
        m = (k >= lo) & (k <= hi)
        out[f"siblings_{lo}-{hi if hi < 10**6 else 'more'}"] = (int(m.sum()), _mean(correct[m]))
    return out


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("run", type=Path)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    paths = RunPaths(args.run)
    rows = pq.read_table(paths.results("train")).to_pandas(maps_as_pydicts="strict")  # merge's typed columns
    pooled = pool_folds(rows)
    out = []
    keys = ["dataset", "width", "monitor", "seed"]
    for key, grp in pooled.groupby(keys, dropna=False):
        rec: dict = dict(zip(keys, key, strict=False))
        by = {r["protocol"]: r for _, r in grp.iterrows()}
        for proto, r in by.items():
            rec[proto] = {m: r.get(m) for m in ("accuracy", "accuracy_ci_low", "accuracy_ci_high", "accuracy_male",
                                                "accuracy_male_ci_low", "accuracy_male_ci_high", "accuracy_female",
                                                "accuracy_female_ci_low", "accuracy_female_ci_high", "n_test",
                                                "n_test_recordings", "n_folds", "fold_accuracies",
                                                "epochs_run", "best_epoch", "epochs_run_folds", "best_epoch_folds")}
            if proto == "paper":
                rec[proto] |= paper_breakdown(paths, r) or {}
        if {"paper", "clean"} <= set(by):
            a, b = (pd.DataFrame(by[x]["test_outcomes"]) for x in ("paper", "clean"))
            rec["leak"] = dict(zip(("all", "ci_low", "ci_high"), difference_ci(a, b), strict=False))
            for g in ("male", "female"):
                rec[f"leak_{g}"] = dict(zip(("all", "ci_low", "ci_high"),
                                            difference_ci(a[a.gender == g], b[b.gender == g]), strict=False))
        out.append(rec)
    if args.json:
        print(json.dumps(out, default=lambda o: None if o is None or (isinstance(o, float) and np.isnan(o)) else
                         (o.item() if hasattr(o, "item") else str(o)), indent=1))
        return 0
    for rec in out:
        print(f"{rec['dataset']} width={rec['width']} monitor={rec['monitor']} seed={rec['seed']}")
        for proto in ("paper", "clean"):
            r = rec.get(proto)
            if not r:
                continue
            print(f"  {proto:5s} folds={r['n_folds']} n_test={r['n_test']} recordings={r['n_test_recordings']}")
            for m in ("accuracy", "accuracy_male", "accuracy_female"):
                print(f"    {m:16s} {r[m]:.4f} [{r[m + '_ci_low']:.4f}, {r[m + '_ci_high']:.4f}]")
            if "accuracy_original" in r:
                print(f"    on its {r['n_original']} original-version test segments: {r['accuracy_original']:.4f}; "
                      f"on its {r['n_augmented']} augmented ones: {r['accuracy_augmented']:.4f}")
                sib = {k.removeprefix("siblings_"): v for k, v in r.items() if k.startswith("siblings_")}
                print("    by training segments of the same recording (n, accuracy): "
                      + "; ".join(f"{k}: {n}, {a:.4f}" for k, (n, a) in sib.items()))
            if isinstance(r.get("fold_accuracies"), str):
                print(f"    per fold {r['fold_accuracies']}; epochs run {r['epochs_run_folds']}, "
                      f"best {r['best_epoch_folds']}")
            else:
                print(f"    epochs run {r['epochs_run']}, best {r['best_epoch']}")
        for name in ("leak", "leak_male", "leak_female"):
            if name in rec:
                d = rec[name]
                print(f"  {name:12s} paper - clean = {d['all']:+.4f} [{d['ci_low']:+.4f}, {d['ci_high']:+.4f}]")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
