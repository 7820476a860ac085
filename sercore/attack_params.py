"""One parameter model per attack, in ART's own names: what an `AttackJob` holds, checked once when it is built.

Kept apart from `sercore.attacks` (which knows the ART classes) and free of TensorFlow/ART imports, so specs and
grid expansion validate parameters on the login node, in milliseconds, with no test seam needed.
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
from typing import Annotated, Any, ClassVar, Literal, cast, get_args

from pydantic import BaseModel, BeforeValidator, ConfigDict, Discriminator, Field, Tag, ValidationError, field_validator
from pydantic_core import ErrorDetails

from .errors import ConfigError
from .strict import key_path, problem_message


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
    attack: ClassVar[str]  # the registry name this model belongs to

    def given(self) -> dict[str, Any]:
        """The parameters as given (JSON values): what the job spec's canonical JSON, and so its id, holds."""
        return self.model_dump(mode="json", exclude_unset=True)

    def kwargs(self) -> dict[str, Any]:
        """Every parameter, defaults filled (JSON values): ART's constructor arguments and the shard column."""
        return self.model_dump(mode="json")


class FgsmParams(Params):
    attack = "fgsm"
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
    attack = "bim"
    eps: Real = Field(0.25, gt=0)
    eps_step: Real = Field(0.1, gt=0)
    max_iter: Int = Field(100, ge=1)
    targeted: Untargeted = False


class DeepFoolParams(Params):
    attack = "deepfool"
    max_iter: Int = Field(1, ge=1)
    epsilon: Real = Field(1e-5, ge=0)  # overshoot
    nb_grads: Int = Field(5, ge=1)  # 5 = every class of the paper's 5-class models


class JsmaParams(Params):
    attack = "jsma"
    theta: Real = Field(-1.0, ge=-1e6, le=1e6)  # change per modified cell per step, signed; must not be 0
    gamma: Real = Field(1.0, gt=0, le=1)  # largest fraction of cells modified

    @field_validator("theta")
    @classmethod
    def _nonzero(cls, v: float) -> float:
        if v == 0:
            raise ValueError("must not be 0 (a zero step never changes the input)")
        return v


class _CwParams(Params):
    """What the two Carlini-Wagner variants share (same names, same defaults in ART)."""

    confidence: Real = Field(0.0, ge=0)
    targeted: Untargeted = False
    learning_rate: Real = Field(0.01, gt=0)
    max_iter: Int = Field(10, ge=0)


class CwL2Params(_CwParams):
    attack = "cw_l2"
    binary_search_steps: Int = Field(20, ge=0)
    initial_const: Real = Field(0.01, gt=0)
    max_halving: Int = Field(10, ge=1)
    max_doubling: Int = Field(10, ge=1)


class CwLinfParams(_CwParams):
    attack = "cw_linf"
    decrease_factor: Real = Field(0.8, gt=0, lt=1)
    initial_const: Real = Field(1e-4, gt=0)
    largest_const: Real = Field(20.0, gt=0)
    const_factor: Real = Field(4.0, gt=1)  # ART's message asks for > 1; 1 would never end its constant loop


class PixelParams(Params):
    attack = "pixel"
    th: Int | None = Field(1, ge=1)  # cells changed; None = ART's search for the smallest th (slow)
    # 1 = differential evolution; 0 (CMA-ES) needs the `cma` package, which sertack does not ship.
    es: Annotated[Literal[1], BeforeValidator(_no_bool)] = 1
    max_iter: Int = Field(20, ge=1)
    targeted: Untargeted = False


class BoundaryParams(Params):
    attack = "boundary"
    targeted: Untargeted = False  # ART's default is True; the paper set False
    delta: Real = Field(0.01, gt=0)
    epsilon: Real = Field(0.01, gt=0)
    step_adapt: Real = Field(0.5, gt=0, lt=1)
    max_iter: Int = Field(100, ge=0)
    num_trial: Int = Field(3, ge=1)
    sample_size: Int = Field(10, ge=1)
    init_size: Int = Field(100, ge=1)
    min_epsilon: Real = Field(0.0, ge=0)


# The registry's names in the paper's order (C&W L0 is left out, as in the paper: out of GPU memory there).
PARAMS: dict[str, type[Params]] = {
    m.attack: m
    for m in (FgsmParams, BimParams, DeepFoolParams, JsmaParams, CwL2Params, CwLinfParams, PixelParams,
              BoundaryParams)
}


def _tag(value: Any) -> str | None:
    """Which member of the union a value is: models carry their attack name (raw mappings are converted by
    AttackJob, which knows the attack, before the union sees them)."""
    return value.attack if isinstance(value, Params) else None


# Any registry entry's model, and the type of `AttackJob.params`: the same union, told apart by the attack name.
AnyParams = (FgsmParams | BimParams | DeepFoolParams | JsmaParams | CwL2Params | CwLinfParams | PixelParams
             | BoundaryParams)
AttackParams = Annotated[
    Annotated[FgsmParams, Tag("fgsm")] | Annotated[BimParams, Tag("bim")]
    | Annotated[DeepFoolParams, Tag("deepfool")] | Annotated[JsmaParams, Tag("jsma")]
    | Annotated[CwL2Params, Tag("cw_l2")] | Annotated[CwLinfParams, Tag("cw_linf")]
    | Annotated[PixelParams, Tag("pixel")] | Annotated[BoundaryParams, Tag("boundary")],
    Discriminator(_tag),
]
assert set(get_args(AnyParams)) == set(PARAMS.values())


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
