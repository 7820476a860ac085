"""What every attack declaration is: one class per attack (ART style), its parameters as pydantic fields and the
rest of what sertack knows about it as class attributes. `sercore.attack_params` declares the attacks; every
registry (parameter union, names, display names and order, the paper's grid, the cost model's table) is derived
from its list of classes, so a new attack is one class there.

Free of TensorFlow/ART imports: specs and grid expansion validate parameters on the login node, in milliseconds.
ART classes are imported only when a job builds its attack (`build`).
"""

from __future__ import annotations

import importlib
import inspect
import math
from abc import abstractmethod
from typing import TYPE_CHECKING, Annotated, Any, ClassVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field

from .errors import ConfigError

if TYPE_CHECKING:
    from art.attacks.attack import EvasionAttack

# One kind of model evaluation an attack makes per attacked sample: (F forward | G forward+backward, count, batch
# size it runs at). The cost model (runner/cost.py) prices them with the calibration's per-sample costs.
Eval = tuple[str, float, int]


def no_bool(value: Any) -> Any:
    """YAML `yes`/`true` must not pass as the number 1."""
    if isinstance(value, bool):
        raise ValueError("must be a number, not a boolean")
    return value


# Floats accept ints and numeric strings (PyYAML reads `1e-5` without a dot as a string); ints and bools are strict.
Real = Annotated[float, BeforeValidator(no_bool)]
Int = Annotated[int, Field(strict=True)]


def _only_false(value: Any) -> Any:
    if value is not False:
        raise ValueError("only False is supported: attacks are untargeted (sertack does not choose target classes)")
    return value


Untargeted = Annotated[bool, BeforeValidator(_only_false)]


def lp_norm(v: Any) -> str | float:
    """ART takes "inf", np.inf or a real p >= 1; stored as "inf" or a float so job ids stay JSON."""
    if isinstance(v, str) and v.lower() in ("inf", "np.inf", ".inf"):
        return "inf"
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        if math.isinf(v) and v > 0:
            return "inf"
        if v >= 1:
            return float(v)
    raise ValueError(f'must be "inf" or a number >= 1 (got {v!r})')


def norm_bound(norm: str | float, eps: float) -> tuple[str, float] | None:
    """The shard's distance column (`linf`, `l2`) an eps-ball of this norm bounds, and its radius."""
    if norm == "inf":
        return ("linf", eps)
    return ("l2", eps) if norm == 2.0 else None


class Params(BaseModel):
    """One attack: its ART constructor arguments as fields (frozen, unknown keys rejected, finite numbers only),
    the rest as class attributes. Subclasses set every attribute without a default and implement `evals`."""

    model_config = ConfigDict(frozen=True, extra="forbid", allow_inf_nan=False)
    attack: ClassVar[str]  # registry name: grids, job specs, shard rows
    display: ClassVar[str]  # name in the report's tables
    art_class: ClassVar[str]  # dotted path, imported only when a job runs
    paper: ClassVar[str]  # the attack's paper
    fast_class: ClassVar[str | None] = None  # same results, hot loop compiled (sercore.fast_attacks)
    stochastic: ClassVar[bool] = False  # draws from numpy's global RNG (seeded per chunk by the job)
    # The sertack paper's settings: every value it set explicitly; lists of several values are its sweeps.
    # Empty for attacks the paper did not run (no paper cells to compare with).
    paper_grid: ClassVar[dict[str, list[Any]]] = {}
    # (name, display) of a merged report row: the paper's summary tables have one C&W row for two attacks.
    report_row: ClassVar[tuple[str, str] | None] = None
    # Fraction of the loop bound the attack runs on average (1 = no early stop); runner.cost.TYPICAL.
    typical: ClassVar[float] = 1.0
    # ART refuses to build it over a model whose output is a softmax (sertack's models today: docs/attacks.md).
    needs_logits: ClassVar[bool] = False
    # Also runs on the 3-s waveform behind the differentiable front end (sercore.waveform_attack): the gradient and
    # decision-based attacks; JSMA, PixelAttack and C&W L-inf work cell by cell, meaningless for 48,000 samples.
    waveform: ClassVar[bool] = False
    # ART takes one number as eps (its _check_params refuses arrays): a per-sample budget (waveform `snr_db`) runs
    # the attack one sample at a time, each built with its own eps (sercore.waveform_attack).
    scalar_eps: ClassVar[bool] = False
    # ART accepts only image-shaped input (n, H, W, C) (SquareAttack, and AutoAttack through it): the waveform is
    # attacked folded into rows (sercore.waveform_attack.fold_shape), the same samples, the same norms.
    image_input: ClassVar[bool] = False

    def given(self) -> dict[str, Any]:
        """The parameters as given (JSON values): what the job spec's canonical JSON, and so its id, holds."""
        return self.model_dump(mode="json", exclude_unset=True)

    def kwargs(self) -> dict[str, Any]:
        """Every parameter, defaults filled (JSON values): ART's constructor arguments and the shard column."""
        return self.model_dump(mode="json")

    def bound(self) -> tuple[str, float] | None:
        """(distance column, radius) every adversarial example must satisfy; None for unbounded attacks."""
        return None

    @abstractmethod
    def evals(self, n_classes: int, batch: int, t: float) -> list[Eval]:
        """Model evaluations per attacked sample: the loop bounds read from ART 1.20's code, early-stopping loops
        times `t` (the typical fraction). Every job's clean/adversarial/label predictions are added by the caller."""

    @classmethod
    def load(cls, compiled: bool = False) -> type[EvasionAttack]:
        path = cls.fast_class if compiled and cls.fast_class else cls.art_class
        module, name = path.rsplit(".", 1)
        return getattr(importlib.import_module(module), name)

    @classmethod
    def build(cls, estimator: Any, params: Params, batch_size: int, fast: bool | None = None) -> EvasionAttack:
        """The ART attack over `estimator` with every parameter of `params` (defaults filled).

        `fast` None: attacks with a `fast_class` use it over sercore's compiled estimator, ART's class otherwise.
        """
        from .estimator import CompiledTensorFlowV2Classifier

        art = cls.load(compiled=isinstance(estimator, CompiledTensorFlowV2Classifier) if fast is None else fast)
        accepted = inspect.signature(art.__init__).parameters
        if not isinstance(params, cls):
            raise ConfigError(f"{cls.attack}: expected {cls.__name__} (got {type(params).__name__})")
        kwargs = params.kwargs()
        if "batch_size" in accepted:
            kwargs["batch_size"] = batch_size
        if "verbose" in accepted:
            kwargs["verbose"] = False  # tqdm bars would flood Slurm logs
        return art(estimator, **kwargs)
