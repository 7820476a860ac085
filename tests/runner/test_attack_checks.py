"""Attack-failure checks on hand-made attack rows: a healthy run raises no flag, and each check fires when its
failure is put in on purpose (an attack that changes nothing, repairs, a sweep made non-monotone by hand, BIM weaker
than FGSM, degenerate gradients, a randomised model, an unbounded attack that leaves samples right); on real tiny
models, a masked gradient raises `gradient`, `unchanged` and `unbounded`, a healthy model no `unbounded`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from runner.reduce.attack_checks import (
    CHECKS,
    UNBOUNDED_MAX,
    attack_flags,
    flags_by_config,
    table_attack_checks,
    unbounded_results,
)
from runner.reduce.params import decode
from tests.sercore.attack_fixtures import CLASSES, SHAPE, make_data, target_job

N = 8
Y_TRUE = np.arange(N) % 4
CLEAN_RIGHT = np.array([1, 1, 1, 1, 1, 1, 0, 0], bool)  # 6 of 8 right before the attack
# Robust (right before and after) per sample: each configuration breaks a superset of the previous one's samples.
HEALTHY = {("fgsm", '{"eps":0.25,"norm":"inf"}'): [1, 1, 1, 1, 0, 0, 0, 0],
           ("fgsm", '{"eps":0.5,"norm":"inf"}'): [1, 1, 0, 0, 0, 0, 0, 0],
           ("bim", '{"eps":0.5,"eps_step":0.1,"max_iter":10}'): [1, 0, 0, 0, 0, 0, 0, 0],
           ("bim", '{"eps":0.5,"eps_step":0.1,"max_iter":20}'): [0, 0, 0, 0, 0, 0, 0, 0],
           ("pixel", '{"th":1}'): [1, 1, 1, 1, 1, 0, 0, 0]}


def _rows(outcomes: dict = HEALTHY, **extra: object) -> pd.DataFrame:
    """Keyed attack rows; a robust sample keeps y_adv = y_true, others move to another class (wrong ones stay
    wrong: no repair), every sample is perturbed, gradients ok, the model deterministic."""
    frames = []
    for (attack, params), robust in outcomes.items():
        y_clean = np.where(CLEAN_RIGHT, Y_TRUE, (Y_TRUE + 1) % 4)
        y_adv = np.where(np.asarray(robust, bool), Y_TRUE, (Y_TRUE + 2) % 4)
        frames.append(pd.DataFrame({"dataset": "emodb", "protocol": "paper", "labels": "predicted",
                                    "estimator": "compiled",
                                    "model_output": "softmax", "seed": 0, "attack": attack,
                                    "params": decode([params])[params],
                                    "sample": np.arange(N), "y_true": Y_TRUE, "y_clean": y_clean, "y_adv": y_adv,
                                    "gender": np.where(np.arange(N) % 2, "female", "male"), "l0": 10,
                                    "linf": 0.5, "grad_flag": "ok", "stochastic": False}))
    rows = pd.concat(frames, ignore_index=True)
    return rows.assign(**extra) if extra else rows


def _merged(rows: pd.DataFrame) -> pd.DataFrame:
    """A job's rows with their parameters decoded, as merge gives them."""
    return rows.assign(params=rows.params.map(decode(rows.params.unique().tolist())))


def _checks(rows: pd.DataFrame) -> set[tuple[str, str, str]]:
    return {(r.attack, r.params, r.check) for r in attack_flags(rows).itertuples()}


def test_a_healthy_run_raises_no_flag() -> None:
    assert attack_flags(_rows()).empty
    table = table_attack_checks(attack_flags(_rows()), [], pd.DataFrame())
    assert table.name == "R03_attack_checks" and table.display.iloc[0].check == "none"


def test_an_attack_that_changes_nothing() -> None:
    rows = _rows()
    pix = rows.attack == "pixel"
    rows.loc[pix, "y_adv"] = rows.loc[pix, "y_clean"]
    assert _checks(rows) == {("pixel", '{"th":1}', "unchanged")}
    rows = _rows()
    rows.loc[pix & (rows["sample"] < 5), "l0"] = 0  # 5 of 8 samples untouched, predictions did change
    flags = attack_flags(rows)
    assert list(flags.check) == ["unchanged"] and flags.reason.iloc[0].startswith("left 5 of 8 samples unperturbed")


def test_accuracy_under_attack_above_clean() -> None:
    rows = _rows()
    pix = rows.attack == "pixel"
    rows.loc[pix, "y_adv"] = rows.loc[pix, "y_true"]  # every sample right under attack: 2 repaired
    flags = attack_flags(rows)
    assert list(flags.check) == ["above_clean"]
    assert flags.reason.iloc[0] == "accuracy under attack 1.000 above clean accuracy 0.750 (2 of 8 samples repaired)"


def test_a_sweep_made_non_monotone_by_hand() -> None:
    outcomes = dict(HEALTHY)
    outcomes[("fgsm", '{"eps":0.5,"norm":"inf"}')] = [1, 1, 1, 1, 1, 1, 0, 0]  # larger eps: more robust
    assert _checks(_rows(outcomes)) == {("fgsm", '{"eps":0.5,"norm":"inf"}', "non_monotone")}
    reason = attack_flags(_rows(outcomes)).reason.iloc[0]
    assert reason == "robust accuracy 0.750 at eps=0.5 above 0.500 at eps=0.25 (8 samples, other parameters equal)"
    outcomes = dict(HEALTHY)
    outcomes[("bim", '{"eps":0.5,"eps_step":0.1,"max_iter":20}')] = [1, 0, 0, 0, 0, 0, 0, 0]  # equal: fine
    assert attack_flags(_rows(outcomes)).empty
    outcomes[("bim", '{"eps":0.5,"eps_step":0.1,"max_iter":20}')] = [1, 1, 0, 0, 0, 0, 0, 0]  # more iterations
    assert _checks(_rows(outcomes)) == {("bim", '{"eps":0.5,"eps_step":0.1,"max_iter":20}', "non_monotone")}


def test_iterative_weaker_than_single_step() -> None:
    outcomes = dict(HEALTHY)
    outcomes[("bim", '{"eps":0.5,"eps_step":0.1,"max_iter":10}')] = [1, 1, 1, 0, 0, 0, 0, 0]
    outcomes[("bim", '{"eps":0.5,"eps_step":0.1,"max_iter":20}')] = [1, 1, 1, 0, 0, 0, 0, 0]
    flags = attack_flags(_rows(outcomes))
    assert set(flags.check) == {"iterative_weaker"} and len(flags) == 2
    assert flags.reason.iloc[0] == "robust accuracy 0.375 above FGSM's 0.250 at eps=0.5, norm=inf (8 samples)"
    l2 = {**outcomes, ("fgsm", '{"eps":0.5,"norm":"inf"}'): outcomes[("fgsm", '{"eps":0.25,"norm":"inf"}')]}
    l2[("fgsm", '{"eps":0.5,"norm":"2"}')] = l2.pop(("fgsm", '{"eps":0.5,"norm":"inf"}'))
    assert "iterative_weaker" not in {c for *_, c in _checks(_rows(l2))}  # another norm: no comparison


def test_degenerate_gradients_flag_gradient_attacks_only() -> None:
    rows = _rows()
    rows.loc[rows["sample"] == 3, "grad_flag"] = "zero"
    rows.loc[rows["sample"] == 5, "grad_flag"] = "nan"
    flags = attack_flags(rows)
    assert set(flags.check) == {"gradient"} and "pixel" not in set(flags.attack) and len(flags) == 4
    assert flags.reason.iloc[0] == ("2 of 8 samples have a degenerate loss gradient at the clean input (1 zero, "
                                    "1 nan, 0 inf)")
    assert attack_flags(_rows(grad_flag=None)).empty  # rows from before the column: nothing known, no flag


def test_a_randomised_model() -> None:
    rows = _rows()
    rows.loc[rows["sample"] == 0, "stochastic"] = True
    flags = attack_flags(rows)
    assert set(flags.check) == {"stochastic"} and len(flags) == len(HEALTHY)
    by = flags_by_config(flags)
    assert by[("emodb", "paper", "predicted", "compiled", "softmax", "pixel", '{"th":1}')] == "stochastic"


def test_r03_lists_every_flag_with_its_reason() -> None:
    outcomes = dict(HEALTHY)
    outcomes[("fgsm", '{"eps":0.5,"norm":"inf"}')] = [1, 1, 1, 1, 1, 1, 0, 0]
    rows = _rows(outcomes)
    rows.loc[rows["sample"] == 0, "stochastic"] = True
    flags = attack_flags(rows)
    table = table_attack_checks(flags, [], rows.drop_duplicates(["attack", "params"]))
    assert len(table.display) == len(flags) == len(HEALTHY) + 1
    assert list(table.display.columns) == ["dataset", "attack", "parameters", "seed", "check", "reason"]
    fgsm = table.display[table.display.attack == "FGSM"]
    assert list(fgsm.check) == ["stochastic", "non_monotone", "stochastic"]  # by configuration, then check order
    assert set(table.display.check) <= set(CHECKS)


UNBOUNDED = '{"eps":100.0,"eps_step":0.5,"max_iter":20,"norm":"inf"}'


def _check_rows(robust: list[int]) -> pd.DataFrame:
    """Rows of an unbounded check job (PGD) on the same model and samples as `_rows`."""
    return _rows({("pgd", UNBOUNDED): robust}, check="unbounded")


def test_an_unbounded_attack_that_leaves_samples_right() -> None:
    assert attack_flags(_rows(), _check_rows([0] * N)).empty  # nothing left: the check passes
    assert attack_flags(_rows(), _check_rows([0] * 7 + [1])).empty  # sample 7 was wrong before: not robust
    flags = attack_flags(_rows(), _check_rows([1, 1, 0, 0, 0, 0, 0, 0]))
    assert list(flags.check) == ["unbounded"] and list(flags.attack) == ["pgd"]
    assert flags.reason.iloc[0] == ("PGD (eps=100.0, eps_step=0.5, max_iter=20, norm=inf) leaves robust accuracy "
                                    f"0.250 (2 of 8 samples right before and under it; near zero means <= "
                                    f"{UNBOUNDED_MAX:g}): gradients may be masked")
    # the model's flag sits beside each of its gradient-attack configurations, not the gradient-free PixelAttack
    by = flags_by_config(flags, _rows().drop_duplicates(["attack", "params"]))
    assert {k[5] for k, v in by.items() if v == "unbounded"} == {"fgsm", "bim"} and len(by) == 4
    table = table_attack_checks(flags, [], _rows().drop_duplicates(["attack", "params"]),
                                unbounded_results(_check_rows([1, 1, 0, 0, 0, 0, 0, 0])))
    assert table.display.iloc[0].parameters.startswith("unbounded check: eps=100.0")
    assert "leaves robust accuracy 0.250 to 0.250; 1 above 0.05 (flag `unbounded`)" in table.notes[-1]
    assert "Not checked in this run" in table_attack_checks(flags, [], pd.DataFrame()).notes[-1]


def test_every_check_is_documented() -> None:
    docs = (Path(__file__).parents[2] / "docs" / "report.md").read_text(encoding="utf-8")
    assert [c for c in CHECKS if f"`{c}`" not in docs] == []


def _tiny_model(head: str):
    """An untrained dense model on the attack fixtures' input: `sign` puts the logits through a sign (a masked
    gradient: zero everywhere), `noise` adds fresh Gaussian noise to the logits at every call (a randomised model),
    `plain` leaves them alone (a healthy model)."""
    import keras
    import tensorflow as tf
    from keras import layers

    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape=SHAPE)
    x = layers.Dense(len(CLASSES))(layers.Flatten()(inputs))
    if head == "sign":
        x = layers.Lambda(lambda z: 3.0 * keras.ops.sign(z))(x)
    elif head == "noise":
        x = layers.Lambda(lambda z: z + tf.random.normal(tf.shape(z)))(x)
    return keras.Model(inputs, layers.Activation("softmax")(x))


@pytest.mark.parametrize(("head", "expected"), [("sign", {"gradient", "unchanged"}), ("noise", {"stochastic"})])
def test_models_that_defeat_gradient_attacks_are_flagged(tmp_path: Path, head: str, expected: set[str]) -> None:
    from runner.reduce.aggregate import keyed_attack_rows
    from sercore.attack_job import attack_prepared
    from sercore.specs import AttackJob

    data = make_data(n_train=3, n_test=8)
    spec = AttackJob(target=target_job(), attack="fgsm", params={"eps": 0.5}, limit=8, chunk_size=8, batch_size=8)
    rows = attack_prepared(spec, data, _tiny_model(head), tmp_path)
    if head == "sign":
        assert set(rows.grad_flag) == {"zero"} and (rows.y_adv == rows.y_clean).all()
    else:
        assert rows.stochastic.all()
    assert expected <= set(attack_flags(keyed_attack_rows(_merged(rows).assign(job_id="j"))).check)


@pytest.mark.parametrize("head", ["sign", "plain"])
def test_the_unbounded_check_on_real_tiny_models(tmp_path: Path, head: str) -> None:
    """The grid's check job (PGD, runner.expand.UNBOUNDED_PARAMS) on a masked and on a healthy model."""
    from runner.expand import UNBOUNDED_ATTACK, UNBOUNDED_PARAMS
    from runner.reduce.aggregate import keyed_attack_rows
    from sercore.attack_job import attack_prepared
    from sercore.specs import AttackJob

    data = make_data(n_train=3, n_test=8)
    spec = AttackJob(target=target_job(), attack=UNBOUNDED_ATTACK, params=UNBOUNDED_PARAMS, check="unbounded",
                     limit=8, chunk_size=8, batch_size=8, examples=0)
    rows = keyed_attack_rows(_merged(attack_prepared(spec, data, _tiny_model(head), tmp_path)).assign(job_id="j"))
    results = unbounded_results(rows)
    flags = attack_flags(rows[rows.index < 0], rows)  # only the check's rows: what the reduce gives it
    if head == "sign":
        assert results.robust.iloc[0] == results.clean_right.iloc[0] > 0  # nothing moved: every right one stays
        assert set(flags.check) == {"unbounded"} and set(attack_flags(rows).check) >= {"gradient", "unchanged"}
    else:
        assert results.robust.iloc[0] == 0 and results.clean_right.iloc[0] > 0 and flags.empty
