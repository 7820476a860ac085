"""The attacks, one class each, in ART's own names: parameters (what an `AttackJob` holds, checked once when it
is built), ART class, display name, the paper's grid, norm bound, randomness and cost formula (`evals`).

Every registry is derived from `ATTACK_CLASSES` (its order is the report's: the paper's attacks first, Tables
4-6): `PARAMS`, the union `AttackParams` of `AttackJob.params`, `sercore.vocab`'s names and display names,
`sercore.attacks.PAPER_GRID`, `runner.cost.TYPICAL`. A new attack is one class here, appended to the list.
Free of TensorFlow/ART imports (see `sercore.attack_base`), so parameters are checked on the login node.

Defaults are the paper's values (its code, `attacks.ipynb`, see docs/paper-settings.md); where the paper swept a
parameter the default is the first value of its sweep. Settings that belong to the job rather than the attack
(`batch_size`, `verbose`) are not parameters: the job sets them (AttackJob.batch_size; progress bars always off).
All attacks are untargeted (`targeted` is False and only False): sertack does not choose target classes.

A model remembers which fields it was given: an `AttackJob`'s canonical JSON holds those (`given()`), so job ids
of existing run folders are unchanged; the grid and the CLI give the complete set (`parse_params`), so planned
jobs name every parameter. ART receives the complete set (`kwargs()`), and so does the shard's `params` column.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from functools import reduce
from operator import or_
from typing import TYPE_CHECKING, Annotated, Any, Literal, cast

from pydantic import BeforeValidator, Discriminator, Field, Tag, ValidationError, field_validator
from pydantic_core import ErrorDetails

from .attack_base import Eval, Int, Params, Real, Untargeted, lp_norm, no_bool, norm_bound
from .errors import ConfigError
from .strict import key_path, problem_message

if TYPE_CHECKING:
    from art.attacks.attack import EvasionAttack

__all__ = ["ATTACK_CLASSES", "PARAMS", "AnyParams", "AttackParams", "Params", "params_json", "params_model",
           "parse_params"]

_EVASION = "art.attacks.evasion"
_ARXIV = "https://arxiv.org/abs/"
CELLS = 261 * 128  # input cells of the paper's features (frames x mel bands): JSMA's step bound


class FgsmParams(Params):
    waveform = True
    attack, display, art_class, paper = "fgsm", "FGSM", f"{_EVASION}.FastGradientMethod", f"{_ARXIV}1412.6572"
    paper_grid = {"eps": [0.25, 0.5, 0.75, 1.0, 1.25], "eps_step": [0.1]}

    norm: Annotated[str | float, BeforeValidator(lp_norm)] = "inf"
    eps: Real = Field(0.25, gt=0)
    eps_step: Real = Field(0.1, gt=0)  # ART uses it only when minimal=True; the paper left ART's 0.1
    targeted: Untargeted = False
    num_random_init: Int = Field(0, ge=0)
    minimal: bool = Field(False, strict=True)

    def bound(self) -> tuple[str, float] | None:
        return norm_bound(self.norm, self.eps)

    def evals(self, n_classes: int, batch: int, t: float) -> list[Eval]:
        return [("G", 1 + self.num_random_init, batch)]


class BimParams(Params):
    waveform = True
    attack, display, art_class, paper = "bim", "BIM", f"{_EVASION}.BasicIterativeMethod", f"{_ARXIV}1607.02533"
    fast_class = "sercore.fast_attacks.CompiledBIM"
    paper_grid = {"eps": [0.25, 0.5, 0.75, 1.0, 1.25], "eps_step": [0.1], "max_iter": [100]}

    eps: Real = Field(0.25, gt=0)
    eps_step: Real = Field(0.1, gt=0)
    max_iter: Int = Field(100, ge=1)
    targeted: Untargeted = False

    def bound(self) -> tuple[str, float] | None:
        return ("linf", self.eps)

    def evals(self, n_classes: int, batch: int, t: float) -> list[Eval]:
        return [("G", self.max_iter * t, batch)]


class DeepFoolParams(Params):
    waveform = True
    attack, display, art_class, paper = "deepfool", "DeepFool", f"{_EVASION}.DeepFool", f"{_ARXIV}1511.04599"
    paper_grid = {"max_iter": [1, 5, 20], "epsilon": [1e-5], "nb_grads": [5]}
    # The first iteration always runs; `typical` is the share of the other max_iter - 1 that does (it stops once
    # a chunk is fooled). Fitted by benchmarks/typical.py on real EmoDB, pooled over two quarter-width final models
    # (trained at batch 32 and 8), 64 samples each: 0.156 (1.5 and 1.75 iterations at max_iter 5; exactly 1 at 1).
    typical = 0.16

    max_iter: Int = Field(1, ge=1)
    epsilon: Real = Field(1e-5, ge=0)  # overshoot
    nb_grads: Int = Field(5, ge=1)  # 5 = every class of the paper's 5-class models

    def evals(self, n_classes: int, batch: int, t: float) -> list[Eval]:
        k, iterations = min(self.nb_grads, n_classes), 1 + (self.max_iter - 1) * t
        return [("G", (1 + iterations) * k, batch), ("F", iterations, batch)]


class JsmaParams(Params):
    attack, display, art_class, paper = "jsma", "JSMA", f"{_EVASION}.SaliencyMapMethod", f"{_ARXIV}1511.07528"
    stochastic = True
    paper_grid = {"theta": [-1.0, -0.5, 0.5, 1.0], "gamma": [1.0]}
    # Fitted by benchmarks/typical.py on real EmoDB, pooled over two quarter-width final models (trained at batch
    # 32 and 8), 64 samples each: 0.100 (batch 32: 0.118 at theta -1, 0.055 at +1; batch 8: 0.140, 0.088).
    typical = 0.1

    theta: Real = Field(-1.0, ge=-1e6, le=1e6)  # change per modified cell per step, signed; must not be 0
    gamma: Real = Field(1.0, gt=0, le=1)  # largest fraction of cells modified

    @field_validator("theta")
    @classmethod
    def _nonzero(cls, v: float) -> float:
        if v == 0:
            raise ValueError("must not be 0 (a zero step never changes the input)")
        return v

    def evals(self, n_classes: int, batch: int, t: float) -> list[Eval]:
        # ART: at most floor(gamma * cells / 2) steps (two cells per step), one class gradient + predict each
        steps = max(1, math.floor(self.gamma * CELLS / 2)) * t
        return [("G", steps, batch), ("F", steps, batch)]


class _CwParams(Params):
    """What the two Carlini-Wagner variants share (same names, same defaults in ART)."""

    paper = f"{_ARXIV}1608.04644"
    # The paper's summary tables (4-6, 44-48) have one C&W row: of the L2 and L-inf runs, the one with the lowest
    # accuracy (runner.reduce.aggregate.paper_best_configs).
    report_row = ("cw", "C&W")

    confidence: Real = Field(0.0, ge=0)
    targeted: Untargeted = False
    learning_rate: Real = Field(0.01, gt=0)
    max_iter: Int = Field(10, ge=0)


class CwL2Params(_CwParams):
    waveform = True
    attack, display, art_class = "cw_l2", "C&W L2", f"{_EVASION}.CarliniL2Method"
    paper_grid = {"confidence": [0.0], "learning_rate": [0.01], "binary_search_steps": [20], "max_iter": [10],
                  "initial_const": [0.01], "max_halving": [10], "max_doubling": [10]}
    # Fitted by benchmarks/typical.py on real EmoDB, pooled over two quarter-width final models (trained at batch
    # 32 and 8), 64 samples each: 0.849 (0.825 and 0.873).
    typical = 0.85

    binary_search_steps: Int = Field(20, ge=0)
    initial_const: Real = Field(0.01, gt=0)
    max_halving: Int = Field(10, ge=1)
    max_doubling: Int = Field(10, ge=1)

    def evals(self, n_classes: int, batch: int, t: float) -> list[Eval]:
        iters = self.binary_search_steps * self.max_iter * t
        # per iteration: two class gradients, a loss evaluation and the line search (up to halving + doubling)
        return [("G", 2 * iters, batch), ("F", iters * (1 + (self.max_halving + self.max_doubling) * 0.25), batch)]


class CwLinfParams(_CwParams):
    attack, display, art_class = "cw_linf", "C&W Linf", f"{_EVASION}.CarliniLInfMethod"
    paper_grid = {"confidence": [0.0], "learning_rate": [0.01], "max_iter": [10], "decrease_factor": [0.8],
                  "initial_const": [1e-4], "largest_const": [20.0], "const_factor": [4.0]}
    # Fitted by benchmarks/typical.py on real EmoDB, pooled over two quarter-width final models (trained at batch
    # 32 and 8), 64 samples each: 0.051 (0.050 and 0.053; it was priced at 0.5).
    typical = 0.05

    decrease_factor: Real = Field(0.8, gt=0, lt=1)
    initial_const: Real = Field(1e-4, gt=0)
    largest_const: Real = Field(20.0, gt=0)
    const_factor: Real = Field(4.0, gt=1)  # ART's message asks for > 1; 1 would never end its constant loop

    def evals(self, n_classes: int, batch: int, t: float) -> list[Eval]:
        consts = max(1, math.ceil(math.log(self.largest_const / self.initial_const) / math.log(self.const_factor)))
        taus = max(1, math.ceil(math.log(1 / 256) / math.log(self.decrease_factor)))
        runs = consts * taus * t  # per sample, one at a time: Adam max_iter steps of (loss + gradient)
        return [("G", 2 * runs * self.max_iter, 1), ("F", runs * (2 * self.max_iter + 2), 1)]


class PixelParams(Params):
    attack, display, art_class, paper = "pixel", "PixelAttack", f"{_EVASION}.PixelAttack", f"{_ARXIV}1710.08864"
    fast_class = "sercore.fast_attacks.FastPixelAttack"
    stochastic = True
    paper_grid = {"th": [1, 5, 10], "es": [1], "max_iter": [20], "targeted": [False]}
    # Fitted by benchmarks/typical.py on real EmoDB, pooled over two quarter-width final models (trained at batch
    # 32 and 8), 64 samples each: 0.701 (batch 32: 0.688 at th 5, 0.653 at 10;
    # batch 8: 0.766, 0.697).
    typical = 0.7

    th: Int | None = Field(1, ge=1)  # cells changed; None = ART's search for the smallest th (slow)
    # 1 = differential evolution; 0 (CMA-ES) needs the `cma` package, which sertack does not ship.
    es: Annotated[Literal[1], BeforeValidator(no_bool)] = 1
    max_iter: Int = Field(20, ge=1)
    targeted: Untargeted = False

    def evals(self, n_classes: int, batch: int, t: float) -> list[Eval]:
        th = self.th or 1  # th=None searches th by bisection (up to 7 runs); counted as one run
        pop = max(5, max(1, 400 // (3 * th)) * 3 * th)
        gens = self.max_iter * t
        return [("F", pop * (1 + gens), pop), ("F", gens + 1, 1)]


class BoundaryParams(Params):
    waveform = True
    attack, display, art_class, paper = ("boundary", "BoundaryAttack", "sercore.seeded.SeededBoundaryAttack",
                                         f"{_ARXIV}1712.04248")
    stochastic = True
    paper_grid = {"delta": [0.01], "epsilon": [0.01], "step_adapt": [0.5], "max_iter": [100], "num_trial": [3],
                  "sample_size": [10], "init_size": [100], "targeted": [False]}
    # Fitted by benchmarks/typical.py on real EmoDB, pooled over two quarter-width final models (trained at batch
    # 32 and 8), 64 samples each: 0.693 (0.753 and 0.633).
    typical = 0.7

    targeted: Untargeted = False  # ART's default is True; the paper set False
    delta: Real = Field(0.01, gt=0)
    epsilon: Real = Field(0.01, gt=0)
    step_adapt: Real = Field(0.5, gt=0, lt=1)
    max_iter: Int = Field(100, ge=0)
    num_trial: Int = Field(3, ge=1)
    sample_size: Int = Field(10, ge=1)
    init_size: Int = Field(100, ge=1)
    min_epsilon: Real = Field(0.0, ge=0)

    def evals(self, n_classes: int, batch: int, t: float) -> list[Eval]:
        it = self.max_iter * t
        return [("F", self.init_size * 0.1, 1), ("F", it * self.sample_size, self.sample_size),
                ("F", it * self.sample_size * 0.5, max(1, self.sample_size // 2))]


class PgdParams(Params):
    """Not in the paper: projected gradient descent (Madry et al.), BIM with an L-inf or L2 ball and random restarts,
    the usual first-order reference attack. Defaults: BIM's (eps 0.25, eps_step 0.1, max_iter 100), no restart."""
    waveform = True

    attack, display, art_class = "pgd", "PGD", f"{_EVASION}.ProjectedGradientDescent"
    paper = f"{_ARXIV}1706.06083"
    stochastic = True  # random starts (num_random_init > 0) draw from numpy's RNG

    norm: Annotated[str | float, BeforeValidator(lp_norm)] = "inf"
    eps: Real = Field(0.25, gt=0)
    eps_step: Real = Field(0.1, gt=0)
    max_iter: Int = Field(100, ge=1)
    targeted: Untargeted = False
    num_random_init: Int = Field(0, ge=0)  # random restarts; 0 = one run from the input itself
    random_eps: bool = Field(False, strict=True)

    @field_validator("norm")
    @classmethod
    def _inf_or_2(cls, v: str | float) -> str | float:
        if v not in ("inf", 2.0):  # ART projects other p-norms by rescaling only (its docstring: suboptimal)
            raise ValueError(f'must be "inf" or 2 (got {v!r})')
        return v

    @field_validator("random_eps")
    @classmethod
    def _fixed_eps(cls, v: bool) -> bool:
        if v:
            raise ValueError("only False is supported: random_eps draws a budget below eps, so cells would mix budgets")
        return v

    def bound(self) -> tuple[str, float] | None:
        return norm_bound(self.norm, self.eps)

    def evals(self, n_classes: int, batch: int, t: float) -> list[Eval]:
        runs = max(1, self.num_random_init)  # ART: max_iter gradient steps per run, a success check after each
        return [("G", runs * self.max_iter * t, batch), ("F", runs, batch)]


class AutoAttackParams(Params):
    """Not in the paper: ART's AutoAttack ensemble (APGD-CE, APGD-DLR, DeepFool, Square; ART's defaults inside),
    each attack run on the samples the earlier ones left correctly classified; results outside the eps ball are
    discarded. Needs a model that outputs logits: ART's APGD-DLR refuses softmax outputs."""
    waveform = True

    attack, display, art_class = "autoattack", "AutoAttack", f"{_EVASION}.AutoAttack"
    paper = f"{_ARXIV}2003.01690"
    stochastic = True  # APGD's random restarts and Square's random search draw from numpy's RNG
    scalar_eps = image_input = True  # ART: eps a number; its Square needs (n, H, W, C)
    typical = 0.1  # rough guess, not fitted: most samples fall to the first APGD-CE restart
    needs_logits = True

    norm: Annotated[str | float, BeforeValidator(lp_norm)] = "inf"
    eps: Real = Field(0.25, gt=0)
    eps_step: Real = Field(0.1, gt=0)
    # True adds targeted runs of every attack against each of the n_classes - 1 other classes (ART's loop); the
    # result is still untargeted: a sample counts as broken by any wrong class.
    targeted: bool = Field(False, strict=True)
    parallel_pool_size: Int = Field(0, ge=0, le=2)  # spawned worker processes (`multiprocess`); 0 = in process

    @field_validator("norm")
    @classmethod
    def _inf(cls, v: str | float) -> str | float:
        if v != "inf":
            raise ValueError(f'must be "inf" (got {v!r})')
        return v

    def bound(self) -> tuple[str, float] | None:
        return ("linf", self.eps)  # ART keeps a result only if (1 - 1e-4) * linf <= eps

    def evals(self, n_classes: int, batch: int, t: float) -> list[Eval]:
        # ART's ensemble: two APGDs of 5 restarts x 100 steps (a gradient and a loss each), DeepFool 100 steps over
        # min(10, classes) class gradients, Square 5 restarts x 5000 queries; once more per target when targeted.
        # The first APGD-CE restart always runs; the rest only on samples still correct (x t).
        runs = 1 + (n_classes - 1 if self.targeted else 0)
        rest = runs * (1000 + 101 * min(10, n_classes)) - 100
        return [("G", 100 + rest * t, batch), ("F", 100 + (runs * 1100 - 100) * t, batch),
                ("F", runs * 25000 * t, batch)]

    @classmethod
    def build(cls, estimator: Any, params: Params, batch_size: int, fast: bool | None = None) -> EvasionAttack:
        try:
            attack = super().build(estimator, params, batch_size, fast)
        except ValueError as exc:  # ART's check that the model outputs logits (APGD-DLR)
            raise ConfigError(f"autoattack: ART refuses this model: {exc}") from exc
        for inner in getattr(attack, "attacks", []):  # ART builds its ensemble with progress bars on
            if "verbose" in inner.attack_params:
                inner.set_params(verbose=False)  # tqdm bars would flood job logs
        return attack


class SquareParams(Params):
    """Not in the paper: Square Attack (Andriushchenko et al.), a score-based random search over square patches
    inside an L-inf or L2 ball; no gradients, so no gradient masking can stop it. ART's class (eps a number, input
    (n, H, W, C)). Defaults: PGD's eps 0.25, ART's max_iter 100 and nb_restarts 1, and p_init 0.3 (ART: 0.8):
    ART's first square has side sqrt(p_init x H x W) and must fit inside the input, so 0.8 fits square images only;
    0.3 fits the paper's 261 x 128 features and the folded waveform (`build` checks it against the input)."""
    waveform = scalar_eps = image_input = True

    attack, display, art_class = "square", "Square", f"{_EVASION}.SquareAttack"
    paper = f"{_ARXIV}1912.00049"
    stochastic = True  # random squares, signs and positions from numpy's RNG
    typical = 0.5  # rough guess, not fitted: the search stops once every sample of the chunk is fooled

    norm: Annotated[str | float, BeforeValidator(lp_norm)] = "inf"
    eps: Real = Field(0.25, gt=0)
    max_iter: Int = Field(100, ge=1)
    p_init: Real = Field(0.3, gt=0, lt=1)
    nb_restarts: Int = Field(1, ge=1)

    @field_validator("norm")
    @classmethod
    def _inf_or_2(cls, v: str | float) -> str | float:
        if v not in ("inf", 2.0):  # ART's search has these two variants (its p = 1 runs the L2 code)
            raise ValueError(f'must be "inf" or 2 (got {v!r})')
        return v

    def bound(self) -> tuple[str, float] | None:
        return norm_bound(self.norm, self.eps)

    def evals(self, n_classes: int, batch: int, t: float) -> list[Eval]:
        # per restart: a prediction and two margin losses (each a prediction), then per iteration the same three
        return [("F", self.nb_restarts * 3 * (1 + self.max_iter * t), batch)]

    @classmethod
    def build(cls, estimator: Any, params: Params, batch_size: int, fast: bool | None = None) -> EvasionAttack:
        problem = _square_misfit(tuple(estimator.input_shape), params)
        if problem:
            raise ConfigError(f"square: {problem}")
        return super().build(estimator, params, batch_size, fast)


def _square_misfit(shape: tuple[int, ...], params: Params) -> str:
    """Why ART's SquareAttack would crash on this input shape, or "": its squares must fit inside (H, W)."""
    if len(shape) != 3:
        return f"ART needs (H, W, C) input (got {shape})"
    (h, w, _), p_init = shape, float(getattr(params, "p_init", 0.3))
    side = round(math.sqrt(p_init * h * w))
    if side >= min(h, w):
        return f"p_init {p_init:g}: the first square (side {side}) does not fit in the {h} x {w} input; lower p_init"
    if getattr(params, "norm", "inf") == 2.0 and 5 * (h // 5) > w:
        return f"norm 2 tiles the input 5 x 5 with squares of side H // 5, wider than W ({h} x {w})"
    return ""


# Every attack, in the report's order: the paper's (C&W L0 is left out, as in the paper: out of GPU memory there),
# then those it did not run.
ATTACK_CLASSES: tuple[type[Params], ...] = (FgsmParams, BimParams, DeepFoolParams, JsmaParams, CwL2Params,
                                            CwLinfParams, PixelParams, BoundaryParams, PgdParams, AutoAttackParams,
                                            SquareParams)

# ---------------------------------------------------------------- derived registries

PARAMS: dict[str, type[Params]] = {m.attack: m for m in ATTACK_CLASSES}
assert len(PARAMS) == len(ATTACK_CLASSES), "two attack classes share a registry name"


def _tag(value: Any) -> str | None:
    """Which member of the union a value is: models carry their attack name (raw mappings are converted by
    AttackJob, which knows the attack, before the union sees them)."""
    return value.attack if isinstance(value, Params) else None


# Any registry entry's model, and the type of `AttackJob.params`: the same union, told apart by the attack name.
# Built from the list at runtime; type checkers see the base class (every member is a Params).
if TYPE_CHECKING:
    AnyParams = Params
    AttackParams = Params
else:
    AnyParams = reduce(or_, ATTACK_CLASSES)
    AttackParams = Annotated[reduce(or_, (Annotated[m, Tag(m.attack)] for m in ATTACK_CLASSES)), Discriminator(_tag)]


def params_model(attack: str) -> type[Params]:
    """The parameter model of a registry name; ConfigError naming the valid ones otherwise."""
    if attack not in PARAMS:
        raise ConfigError(f"unknown attack {attack!r} (expected one of {', '.join(PARAMS)})")
    return PARAMS[attack]


def _problem(name: str, model: type[Params], err: ErrorDetails) -> str:
    """One pydantic error as `key: message (got value)`, the key first so callers can prefix their path."""
    key = key_path(err["loc"]) or name
    if err["type"] == "extra_forbidden":
        return f"{key}: unknown parameter for {name} (expected one of {', '.join(model.model_fields)})"
    return f"{key}: {problem_message(err).replace('Input should be', 'must be')}"  # the house formatter


def parse_params(attack: str, params: Mapping[str, Any] | None) -> AnyParams:
    """The attack's parameter model with every field set (defaults filled), from a grid's or a CLI's mapping.

    Raises ConfigError whose message starts with the parameter name: `eps: must be greater than 0 (got -0.1)`.
    """
    model = params_model(attack)
    if params is not None and not isinstance(params, Mapping):
        raise ConfigError(f"{attack}: expected a mapping of ART parameters (got {params!r})")
    # The defaults go in as given values, so the spec's canonical JSON names every parameter.
    complete = {k: f.default for k, f in model.model_fields.items()} | dict(params or {})
    try:
        return cast(AnyParams, model.model_validate(complete))  # PARAMS holds exactly AnyParams' members
    except ValidationError as exc:
        raise ConfigError("; ".join(_problem(attack, model, e) for e in exc.errors())) from exc


def params_json(params: Mapping[str, Any]) -> str:
    """Canonical JSON of a parameter set (the shard's `params` column, its one encoding of the parameters)."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"))
