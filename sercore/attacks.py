"""The attack registry: one entry per ART evasion attack the paper ran, naming its ART class and parameter model.

The parameter models live in `sercore.attack_params` (no TensorFlow or ART there), so specs and grids check
parameters on the login node instead of on a GPU an hour later; ART classes are imported only when a job runs.
`PAPER_GRID` holds the paper's sweeps (each model's default is the first value of its sweep).
C&W L0 is left out, as in the paper (out of GPU memory there).
"""

from __future__ import annotations

import importlib
import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .attack_params import PARAMS, Params, params_json, params_model, parse_params
from .errors import ConfigError

if TYPE_CHECKING:
    from art.attacks.attack import EvasionAttack

__all__ = ["ATTACKS", "PAPER_GRID", "AttackInfo", "attack_info", "params_json", "validate_params"]


@dataclass(frozen=True)
class AttackInfo:
    """One registry entry: which ART class runs it, what it accepts, and what we know about it."""

    name: str
    art_class: str  # dotted path, imported only when a job runs
    params: type[Params]
    paper: str
    norm_bound: str | None = None  # "linf": the result must satisfy linf <= eps
    stochastic: bool = False  # draws from numpy's global RNG (seeded per chunk by the job)
    fast_class: str | None = None  # same results, hot loop compiled (sercore.fast_attacks): compiled estimator only

    def load(self, compiled: bool = False) -> type[EvasionAttack]:
        path = self.fast_class if compiled and self.fast_class else self.art_class
        module, cls = path.rsplit(".", 1)
        return getattr(importlib.import_module(module), cls)

    def build(self, estimator: Any, params: Params, batch_size: int, fast: bool | None = None) -> EvasionAttack:
        """The ART attack over `estimator` with every parameter of `params` (defaults filled).

        `fast` None: attacks with a `fast_class` use it over sercore's compiled estimator, ART's class otherwise.
        """
        from .estimator import CompiledTensorFlowV2Classifier

        cls = self.load(compiled=isinstance(estimator, CompiledTensorFlowV2Classifier) if fast is None else fast)
        accepted = inspect.signature(cls.__init__).parameters
        if not isinstance(params, self.params):
            raise ConfigError(f"{self.name}: expected {self.params.__name__} (got {type(params).__name__})")
        kwargs = params.kwargs()
        if "batch_size" in accepted:
            kwargs["batch_size"] = batch_size
        if "verbose" in accepted:
            kwargs["verbose"] = False  # tqdm bars would flood Slurm logs
        return cls(estimator, **kwargs)


_EVASION = "art.attacks.evasion"
ATTACKS: dict[str, AttackInfo] = {
    a.name: a
    for a in (
        AttackInfo("fgsm", f"{_EVASION}.FastGradientMethod", PARAMS["fgsm"], "https://arxiv.org/abs/1412.6572", "linf"),
        AttackInfo("bim", f"{_EVASION}.BasicIterativeMethod", PARAMS["bim"], "https://arxiv.org/abs/1607.02533", "linf",
                   fast_class="sercore.fast_attacks.CompiledBIM"),
        AttackInfo("deepfool", f"{_EVASION}.DeepFool", PARAMS["deepfool"], "https://arxiv.org/abs/1511.04599"),
        AttackInfo(
            "jsma", f"{_EVASION}.SaliencyMapMethod", PARAMS["jsma"], "https://arxiv.org/abs/1511.07528", stochastic=True
        ),
        AttackInfo("cw_l2", f"{_EVASION}.CarliniL2Method", PARAMS["cw_l2"], "https://arxiv.org/abs/1608.04644"),
        AttackInfo("cw_linf", f"{_EVASION}.CarliniLInfMethod", PARAMS["cw_linf"], "https://arxiv.org/abs/1608.04644"),
        AttackInfo(
            "pixel", f"{_EVASION}.PixelAttack", PARAMS["pixel"], "https://arxiv.org/abs/1710.08864", stochastic=True,
            fast_class="sercore.fast_attacks.FastPixelAttack",
        ),
        AttackInfo(
            "boundary", "sercore.seeded.SeededBoundaryAttack", PARAMS["boundary"],
            "https://arxiv.org/abs/1712.04248", stochastic=True,
        ),
    )
}

# The paper's settings (attacks.ipynb): every value it set explicitly; lists of several values are its sweeps.
PAPER_GRID: dict[str, dict[str, list[Any]]] = {
    "fgsm": {"eps": [0.25, 0.5, 0.75, 1.0, 1.25], "eps_step": [0.1]},
    "bim": {"eps": [0.25, 0.5, 0.75, 1.0, 1.25], "eps_step": [0.1], "max_iter": [100]},
    "deepfool": {"max_iter": [1, 5, 20], "epsilon": [1e-5], "nb_grads": [5]},
    "jsma": {"theta": [-1.0, -0.5, 0.5, 1.0], "gamma": [1.0]},
    "cw_l2": {
        "confidence": [0.0], "learning_rate": [0.01], "binary_search_steps": [20], "max_iter": [10],
        "initial_const": [0.01], "max_halving": [10], "max_doubling": [10],
    },
    "cw_linf": {
        "confidence": [0.0], "learning_rate": [0.01], "max_iter": [10], "decrease_factor": [0.8],
        "initial_const": [1e-4], "largest_const": [20.0], "const_factor": [4.0],
    },
    "pixel": {"th": [1, 5, 10], "es": [1], "max_iter": [20], "targeted": [False]},
    "boundary": {
        "delta": [0.01], "epsilon": [0.01], "step_adapt": [0.5], "max_iter": [100], "num_trial": [3],
        "sample_size": [10], "init_size": [100], "targeted": [False],
    },
}


def attack_info(name: str) -> AttackInfo:
    params_model(name)  # the unknown-name error, one wording
    return ATTACKS[name]


def validate_params(attack: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """Every parameter of one set, defaults filled, JSON-ready (CLIs and benchmarks; specs hold the model).

    Raises ConfigError whose message starts with the parameter name: `eps: must be greater than 0 (got -0.1)`.
    """
    return parse_params(attack, params).kwargs()


assert list(ATTACKS) == list(PARAMS) and all(ATTACKS[n].params is PARAMS[n] for n in PARAMS)
