"""sercore.fast_attacks: the compiled BIM loop and the vectorised PixelAttack give ART's adversarial examples."""

from __future__ import annotations

import numpy as np
import pytest

from sercore.attack_params import parse_params
from sercore.attacks import ATTACKS
from sercore.estimator import make_classifier
from tests.sercore.attack_fixtures import toy, toy_logits

pytestmark = pytest.mark.slow  # ~80 s in all on the loaded 2-core VM (trains the toy model, runs each attack twice)


def adversarial(name: str, params: dict, compiled: bool, n: int = 11, max_batch: int = 8, art: bool = False,
                logits: bool = False) -> tuple:
    """(x_adv, attack class name, estimator); `art` builds ART's own class even over the compiled estimator;
    `logits` attacks the toy model's logits twin through a from_logits estimator."""
    data, model = toy()
    est = make_classifier(toy_logits() if logits else model, 3, data.clip_values, compiled=compiled,
                          max_batch=max_batch, jit_compile=False, from_logits=logits)
    params = parse_params(name, params)
    attack = ATTACKS[name].build(est, params, max_batch, fast=False if art else None)
    np.random.seed(7)
    return attack.generate(data.x_test[:n]), type(attack).__name__, est


@pytest.mark.parametrize("params", [{"eps": 0.25, "eps_step": 0.1, "max_iter": 5}, {"eps": 1.0, "max_iter": 12}])
def test_compiled_bim_equals_art(params: dict) -> None:
    stock, stock_cls, _ = adversarial("bim", params, compiled=False)
    ours, ours_cls, est = adversarial("bim", params, compiled=True)  # 11 samples: pieces of 8 and 3 (padded to 4)
    art, _, _ = adversarial("bim", params, compiled=True, art=True)  # ART's loop over the same estimator
    assert (stock_cls, ours_cls) == ("BasicIterativeMethod", "CompiledBIM")
    np.testing.assert_array_equal(ours, art)
    np.testing.assert_array_equal(ours, stock)
    assert est.evals["G"] == 11 * params["max_iter"]
    assert np.abs(ours - toy()[0].x_test[:11]).max() <= params["eps"] + 1e-6


def test_compiled_bim_on_logits_equals_art() -> None:
    """The compiled loop takes its loss from the estimator, so from_logits carries over: same steps as ART's."""
    params = {"eps": 1.0, "max_iter": 6}
    stock, _, _ = adversarial("bim", params, compiled=False, logits=True)
    ours, ours_cls, _ = adversarial("bim", params, compiled=True, logits=True)
    assert ours_cls == "CompiledBIM"
    np.testing.assert_array_equal(ours, stock)


def test_compiled_bim_falls_back_to_art_for_random_init() -> None:
    data, model = toy()
    est = make_classifier(model, 3, data.clip_values, compiled=True, max_batch=8)
    attack = ATTACKS["bim"].build(est, parse_params("bim", {"max_iter": 2}), 8)
    assert attack._covered({}) and not attack._covered({"mask": np.ones(3)})
    attack.num_random_init = 1
    attack._attack.num_random_init = 1
    assert not attack._covered({})
    x = data.x_test[:3]
    np.random.seed(0)
    x_adv = attack.generate(x)  # ART's own loop
    assert x_adv.shape == x.shape and 0 < np.abs(x_adv - x).max() <= attack.eps + 1e-6


@pytest.mark.parametrize("th", [1, 3])
def test_fast_pixel_attack_equals_art(th: int) -> None:
    # Same estimator on both sides: the populations, hence the whole search, are bit-identical. (Against the
    # stock estimator the ~1e-7 differences in predictions can break a near-tie in differential evolution.)
    art, art_cls, _ = adversarial("pixel", {"th": th, "max_iter": 2}, compiled=True, n=4, art=True)
    ours, ours_cls, o_est = adversarial("pixel", {"th": th, "max_iter": 2}, compiled=True, n=4)
    assert (art_cls, ours_cls) == ("PixelAttack", "FastPixelAttack")
    np.testing.assert_array_equal(ours, art)
    assert o_est.evals["F"] > 4 * 100  # populations of ~400/(3 th) x 3 th candidates were evaluated
