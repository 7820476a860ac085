"""The attack registry: one entry per ART evasion attack the paper ran, with a parameter model in ART's own names.

Parameters are checked here, at grid-expansion time, without importing TensorFlow or ART, so a typo fails on the
login node instead of on a GPU an hour later. Defaults are the paper's values (its code, `attacks.ipynb`, see
docs/paper-settings.md); where the paper swept a parameter the default is the first value of its sweep and the
whole sweep is in `PAPER_GRID`. Settings that belong to the job rather than the attack (`batch_size`, `verbose`)
are not parameters: the job sets them (AttackJob.batch_size; progress bars always off).
All attacks are untargeted (`targeted` is False and only False): sertack does not choose target classes.
C&W L0 is left out, as in the paper (out of GPU memory there).
"""

from __future__ import annotations

import importlib
import inspect
import json
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, ValidationError, field_validator

from .errors import ConfigError

if TYPE_CHECKING:
    from art.attacks.attack import EvasionAttack


def _no_bool(value: Any) -> Any:
    """YAML `yes`/`true` must not pass as the number 1."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


# Floats accept ints and numeric strings (PyYAML reads `1e-5` without a dot as a string); ints and bools are strict.
Real = Annotated[float, BeforeValidator(_no_bool)]
Int = Annotated[int, Field(strict=True)]


def _only_false(value: Any) -> Any:
    if value is not False:
        raise ValueError("only False is supported: attacks are untargeted (sertack does not choose target classes)")
    return value


Untargeted = Annotated[bool, BeforeValidator(_only_false)]


class Params(BaseModel):
    """Base of every parameter model: frozen, unknown keys rejected, finite numbers only (no `eps: .inf`)."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)


class FgsmParams(Params):
    norm: str | float = "inf"
    eps: Real = Field(0.25, gt=0)
    eps_step: Real = Field(0.1, gt=0)  # ART uses it only when minimal=True; the paper left ART's 0.1
    targeted: Untargeted = False
    num_random_init: Int = Field(0, ge=0)
    minimal: bool = Field(False, strict=True)

    @field_validator("norm", mode="before")
    @classmethod
    def _norm(cls, v: Any) -> str | float:
        """ART takes "inf", np.inf or a real p >= 1; stored as "inf" or a float so job ids stay JSON."""
        if isinstance(v, str) and v.lower() in ("inf", "np.inf", ".inf"):
            return "inf"
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            if math.isinf(v) and v > 0:
                return "inf"
            if v >= 1:
                return float(v)
        raise ValueError(f'must be "inf" or a number >= 1 (got {v!r})')


class BimParams(Params):
    eps: Real = Field(0.25, gt=0)
    eps_step: Real = Field(0.1, gt=0)
    max_iter: Int = Field(100, ge=1)
    targeted: Untargeted = False


class DeepFoolParams(Params):
    max_iter: Int = Field(1, ge=1)
    epsilon: Real = Field(1e-5, ge=0)  # overshoot
    nb_grads: Int = Field(5, ge=1)  # 5 = every class of the paper's 5-class models


class JsmaParams(Params):
    theta: Real = Field(-1.0, ge=-1e6, le=1e6)  # change per modified cell per step, signed; must not be 0
    gamma: Real = Field(1.0, gt=0, le=1)  # largest fraction of cells modified

    @field_validator("theta")
    @classmethod
    def _nonzero(cls, v: float) -> float:
        if v == 0:
            raise ValueError("must not be 0 (a zero step never changes the input)")
        return v


class CwL2Params(Params):
    confidence: Real = Field(0.0, ge=0)
    targeted: Untargeted = False
    learning_rate: Real = Field(0.01, gt=0)
    binary_search_steps: Int = Field(20, ge=0)
    max_iter: Int = Field(10, ge=0)
    initial_const: Real = Field(0.01, gt=0)
    max_halving: Int = Field(10, ge=1)
    max_doubling: Int = Field(10, ge=1)


class CwLinfParams(Params):
    confidence: Real = Field(0.0, ge=0)
    targeted: Untargeted = False
    learning_rate: Real = Field(0.01, gt=0)
    max_iter: Int = Field(10, ge=0)
    decrease_factor: Real = Field(0.8, gt=0, lt=1)
    initial_const: Real = Field(1e-4, gt=0)
    largest_const: Real = Field(20.0, gt=0)
    const_factor: Real = Field(4.0, gt=1)  # ART's message asks for > 1; 1 would never end its constant loop


class PixelParams(Params):
    th: Int | None = Field(1, ge=1)  # cells changed; None = ART's search for the smallest th (slow)
    # 1 = differential evolution; 0 (CMA-ES) needs the `cma` package, which sertack does not ship.
    es: Annotated[Literal[1], BeforeValidator(_no_bool)] = 1
    max_iter: Int = Field(20, ge=1)
    targeted: Untargeted = False


class BoundaryParams(Params):
    targeted: Untargeted = False  # ART's default is True; the paper set False
    delta: Real = Field(0.01, gt=0)
    epsilon: Real = Field(0.01, gt=0)
    step_adapt: Real = Field(0.5, gt=0, lt=1)
    max_iter: Int = Field(100, ge=0)
    num_trial: Int = Field(3, ge=1)
    sample_size: Int = Field(10, ge=1)
    init_size: Int = Field(100, ge=1)
    min_epsilon: Real = Field(0.0, ge=0)


@dataclass(frozen=True)
class AttackInfo:
    """One registry entry: which ART class runs it, what it accepts, and what we know about it."""

    name: str
    art_class: str  # dotted path, imported only when a job runs
    params: type[Params]
    paper: str
    norm_bound: str | None = None  # "linf": the result must satisfy linf <= eps
    stochastic: bool = False  # draws from numpy's global RNG (seeded per chunk by the job)

    def load(self) -> type[EvasionAttack]:
        module, cls = self.art_class.rsplit(".", 1)
        return getattr(importlib.import_module(module), cls)

    def build(self, estimator: Any, params: dict[str, Any], batch_size: int) -> EvasionAttack:
        """The ART attack over `estimator`; `params` must come from validate_params."""
        cls = self.load()
        accepted = inspect.signature(cls.__init__).parameters
        kwargs = dict(params)
        if "batch_size" in accepted:
            kwargs["batch_size"] = batch_size
        if "verbose" in accepted:
            kwargs["verbose"] = False  # tqdm bars would flood Slurm logs
        return cls(estimator, **kwargs)


_EVASION = "art.attacks.evasion"
ATTACKS: dict[str, AttackInfo] = {
    a.name: a
    for a in (
        AttackInfo("fgsm", f"{_EVASION}.FastGradientMethod", FgsmParams, "https://arxiv.org/abs/1412.6572", "linf"),
        AttackInfo("bim", f"{_EVASION}.BasicIterativeMethod", BimParams, "https://arxiv.org/abs/1607.02533", "linf"),
        AttackInfo("deepfool", f"{_EVASION}.DeepFool", DeepFoolParams, "https://arxiv.org/abs/1511.04599"),
        AttackInfo(
            "jsma", f"{_EVASION}.SaliencyMapMethod", JsmaParams, "https://arxiv.org/abs/1511.07528", stochastic=True
        ),
        AttackInfo("cw_l2", f"{_EVASION}.CarliniL2Method", CwL2Params, "https://arxiv.org/abs/1608.04644"),
        AttackInfo("cw_linf", f"{_EVASION}.CarliniLInfMethod", CwLinfParams, "https://arxiv.org/abs/1608.04644"),
        AttackInfo(
            "pixel", f"{_EVASION}.PixelAttack", PixelParams, "https://arxiv.org/abs/1710.08864", stochastic=True
        ),
        AttackInfo(
            "boundary", "sercore.seeded.SeededBoundaryAttack", BoundaryParams,
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
    if name not in ATTACKS:
        raise ConfigError(f"unknown attack {name!r} (expected one of {', '.join(ATTACKS)})")
    return ATTACKS[name]


def _problem(name: str, model: type[Params], err: dict[str, Any]) -> str:
    """One pydantic error as `key: message (got value)`, the key first so callers can prefix their path."""
    key = ".".join(str(p) for p in err["loc"]) or name
    if err["type"] == "extra_forbidden":
        return f"{key}: unknown parameter for {name} (expected one of {', '.join(model.model_fields)})"
    msg = err["msg"].removeprefix("Value error, ").replace("Input should be", "must be")
    if "(got" not in msg:
        msg += f" (got {err.get('input')!r})"
    return f"{key}: {msg}"


def validate_params(attack: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """Check one parameter set against the attack's model; return it complete (defaults filled), JSON-ready.

    Raises ConfigError whose message starts with the parameter name: `eps: must be greater than 0 (got -0.1)`.
    """
    info = attack_info(attack)
    if params is not None and not isinstance(params, dict):
        raise ConfigError(f"{attack}: expected a mapping of ART parameters (got {params!r})")
    try:
        model = info.params.model_validate(params or {})
    except ValidationError as exc:
        raise ConfigError("; ".join(_problem(attack, info.params, e) for e in exc.errors())) from exc
    return model.model_dump(mode="json")


def params_json(params: dict[str, Any]) -> str:
    """Canonical JSON of a parameter set (the `params` column)."""
    return json.dumps(params, sort_keys=True, separators=(",", ":"))
