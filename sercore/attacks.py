"""The attack registry: registry name -> the attack's class (sercore.attack_params), which names its ART class,
builds the ART attack (`build`) and holds its parameters; `PAPER_GRID` holds the paper's sweeps (each model's
default is the first value of its sweep). Both are derived from `sercore.attack_params.ATTACK_CLASSES`.

No TensorFlow or ART at import: ART classes are imported only when a job builds its attack.
C&W L0 is left out, as in the paper (out of GPU memory there).
"""

from __future__ import annotations

from typing import Any

from .attack_params import ATTACK_CLASSES, PARAMS, Params, params_json, params_model, parse_params

__all__ = ["ATTACKS", "PAPER_GRID", "attack_info", "params_json", "validate_params"]

ATTACKS: dict[str, type[Params]] = PARAMS

# The paper's settings (attacks.ipynb): every value it set explicitly; lists of several values are its sweeps.
# Attacks the paper did not run have no entry.
PAPER_GRID: dict[str, dict[str, list[Any]]] = {m.attack: m.paper_grid for m in ATTACK_CLASSES if m.paper_grid}


def attack_info(name: str) -> type[Params]:
    """The attack's class; ConfigError naming the valid ones for an unknown name."""
    return params_model(name)


def validate_params(attack: str, params: dict[str, Any] | None) -> dict[str, Any]:
    """Every parameter of one set, defaults filled, JSON-ready (CLIs and benchmarks; specs hold the model).

    Raises ConfigError whose message starts with the parameter name: `eps: must be greater than 0 (got -0.1)`.
    """
    return parse_params(attack, params).kwargs()
