"""Attack registry: parameter models in ART's names, validation messages, the paper's grid."""

from __future__ import annotations

import inspect

import pytest

from sercore.attack_params import parse_params
from sercore.attacks import ATTACKS, PAPER_GRID, validate_params
from sercore.errors import ConfigError

PAPER_NAMES = ["fgsm", "bim", "deepfool", "jsma", "cw_l2", "cw_linf", "pixel", "boundary"]
NAMES = [*PAPER_NAMES, "pgd", "autoattack", "square"]


def test_registry_names_are_the_contract() -> None:
    assert list(ATTACKS) == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_parameters_are_art_constructor_arguments(name: str) -> None:
    accepted = inspect.signature(ATTACKS[name].load().__init__).parameters
    assert set(ATTACKS[name].model_fields) <= set(accepted)


def test_defaults_are_the_paper_values() -> None:
    assert validate_params("fgsm", {})["eps_step"] == 0.1
    assert validate_params("bim", {})["max_iter"] == 100
    assert validate_params("deepfool", {}) == {"max_iter": 1, "epsilon": 1e-5, "nb_grads": 5}
    cw = validate_params("cw_l2", {})
    assert (cw["binary_search_steps"], cw["initial_const"], cw["max_halving"], cw["max_doubling"]) == (20, 0.01, 10, 10)
    linf = validate_params("cw_linf", {})
    assert (linf["decrease_factor"], linf["initial_const"], linf["const_factor"]) == (0.8, 1e-4, 4.0)
    assert validate_params("pixel", {}) == {"th": 1, "es": 1, "max_iter": 20, "targeted": False}
    assert validate_params("pgd", {}) == {"norm": "inf", "eps": 0.25, "eps_step": 0.1, "max_iter": 100,
                                          "targeted": False, "num_random_init": 0, "random_eps": False}
    assert validate_params("pgd", {"norm": 2})["norm"] == 2.0
    b = validate_params("boundary", {})
    got = (b["targeted"], b["step_adapt"], b["num_trial"], b["sample_size"], b["init_size"])
    assert got == (False, 0.5, 3, 10, 100)


def test_paper_grid_validates_and_covers_every_attack() -> None:
    assert set(PAPER_GRID) == set(PAPER_NAMES)  # PGD, AutoAttack: not run by the paper, no paper cells
    assert PAPER_GRID["fgsm"]["eps"] == [0.25, 0.5, 0.75, 1.0, 1.25]
    assert PAPER_GRID["jsma"]["theta"] == [-1.0, -0.5, 0.5, 1.0]
    for name, grid in PAPER_GRID.items():
        for key, values in grid.items():
            for v in values:
                assert validate_params(name, {key: v})[key] == v


def test_validated_params_are_json_ready_and_typed() -> None:
    p = validate_params("deepfool", {"epsilon": "1e-5", "max_iter": 20})  # PyYAML reads 1e-5 as a string
    assert p == {"max_iter": 20, "epsilon": 1e-5, "nb_grads": 5}
    assert validate_params("fgsm", {"norm": float("inf")})["norm"] == "inf"
    assert validate_params("fgsm", {"eps": 1})["eps"] == 1.0


@pytest.mark.parametrize(
    ("attack", "params", "expected"),
    [
        ("fgsm", {"eps": -0.1}, "eps: must be greater than 0 (got -0.1)"),
        ("fgsm", {"epz": 1}, "epz: unknown parameter for fgsm (expected one of norm, eps, eps_step"),
        ("bim", {"max_iter": 1.5}, "max_iter: must be a valid integer (got 1.5)"),
        ("bim", {"max_iter": True}, "max_iter: must be a valid integer (got True)"),
        ("fgsm", {"eps": True}, "eps: must be a number, not a boolean"),
        ("jsma", {"gamma": 1.5}, "gamma: must be less than or equal to 1 (got 1.5)"),
        ("jsma", {"theta": 0}, "theta: must not be 0"),
        ("boundary", {"targeted": True}, "targeted: only False is supported"),
        ("boundary", {"step_adapt": 1.0}, "step_adapt: must be less than 1 (got 1.0)"),
        ("pixel", {"es": 0}, "es: invalid value (got 0; expected one of 1)"),
        ("cw_linf", {"decrease_factor": 0}, "decrease_factor: must be greater than 0"),
        ("fgsm", {"norm": 0.5}, 'norm: must be "inf" or a number >= 1 (got 0.5)'),
        ("pgd", {"norm": 1}, 'norm: must be "inf" or 2 (got 1.0)'),
        ("pgd", {"random_eps": True}, "random_eps: only False is supported"),
        ("pgd", {"num_random_init": -1}, "num_random_init: must be greater than or equal to 0"),
        ("autoattack", {"norm": 2}, 'norm: must be "inf" (got 2.0)'),
        ("autoattack", {"parallel_pool_size": 3}, "parallel_pool_size: must be less than or equal to 2"),
    ],
)
def test_bad_parameters_rejected_with_key_first(attack: str, params: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        validate_params(attack, params)
    assert str(err.value).startswith(expected)


def test_unknown_attack_lists_the_valid_ones() -> None:
    with pytest.raises(ConfigError, match="unknown attack 'cw_l0' .expected one of fgsm, bim, deepfool, jsma, cw_l2"):
        validate_params("cw_l0", {})


def test_validation_does_not_import_tensorflow() -> None:
    import subprocess
    import sys

    code = "import sys; from sercore.attacks import validate_params; validate_params('bim', {}); " \
           "print('tensorflow' in sys.modules or 'art' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"


def _toy_classifier(logits: bool):
    """The attack tests' tiny model wrapped as jobs wrap theirs; `logits`: the same weights without the softmax."""
    import keras

    from sercore.estimator import make_classifier
    from tests.sercore.attack_fixtures import toy

    data, model = toy()
    if logits:
        head = keras.layers.Dense(len(data.classes))
        model = keras.Model(model.input, head(model.layers[-2].output))
        head.set_weights(toy()[1].layers[-1].get_weights())
    return data, make_classifier(model, len(data.classes), data.clip_values)


def test_autoattack_refuses_a_softmax_model_in_one_line() -> None:
    _, est = _toy_classifier(logits=False)
    with pytest.raises(ConfigError, match="autoattack: ART refuses this model: .*predict logits"):
        ATTACKS["autoattack"].build(est, parse_params("autoattack", {}), 8)


@pytest.mark.slow
def test_autoattack_on_logits_breaks_the_toy_model_within_its_budget() -> None:
    """ART's ensemble in process (parallel_pool_size 0; its generate() imports the `multiprocess` dependency)."""
    import numpy as np

    data, est = _toy_classifier(logits=True)
    x, y = data.x_test[:4], data.y_test[:4]
    attack = ATTACKS["autoattack"].build(est, parse_params("autoattack", {"eps": 0.3}), 4)
    assert all(not a.verbose for a in attack.attacks if "verbose" in a.attack_params)  # no tqdm bars in job logs
    adv = attack.generate(x)
    assert np.abs(adv - x).max() <= 0.3 * (1 + 1e-4)
    assert (est.predict(x).argmax(1) == y).mean() > (est.predict(adv).argmax(1) == y).mean()


def test_square_stays_in_its_ball_and_refuses_inputs_its_squares_do_not_fit() -> None:
    import numpy as np

    from sercore.attack_params import _square_misfit

    data, est = _toy_classifier(logits=False)
    x = data.x_test[:6]
    adv = ATTACKS["square"].build(est, parse_params("square", {"eps": 0.5, "max_iter": 20}), 6).generate(x)
    assert np.abs(adv - x).max() <= 0.5 + 1e-6
    assert (est.predict(adv).argmax(1) != est.predict(x).argmax(1)).any()  # the search found something
    paper = (261, 128, 1)
    assert _square_misfit(paper, parse_params("square", {})) == ""  # p_init 0.3 fits the paper's features
    assert "does not fit" in _square_misfit(paper, parse_params("square", {"p_init": 0.8}))
    assert "tiles the input" in _square_misfit(paper, parse_params("square", {"norm": 2}))
    with pytest.raises(ConfigError, match="square: ART needs"):
        ATTACKS["square"].build(type("E", (), {"input_shape": (48000,)})(), parse_params("square", {}), 4)
