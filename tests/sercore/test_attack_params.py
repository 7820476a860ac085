"""Typed attack parameters in job specs: one model per attack, validated once, ids from the canonical JSON."""

from __future__ import annotations

import subprocess
import sys
from typing import get_args

import pytest
from pydantic import ValidationError

from sercore import vocab
from sercore.attack_params import ATTACK_CLASSES, PARAMS, BimParams, FgsmParams, parse_params
from sercore.attacks import ATTACKS
from sercore.errors import ConfigError
from sercore.specs import AttackJob, CorpusSpec, DataSpec, TrainJob, job_from_dict

TARGET = TrainJob(data=DataSpec(corpus=CorpusSpec(name="synthetic")))


def test_one_model_per_registry_entry() -> None:
    assert list(PARAMS) == list(ATTACKS)
    assert all(ATTACKS[n] is m and m.attack == n for n, m in PARAMS.items())


@pytest.mark.parametrize("cls", ATTACK_CLASSES, ids=lambda c: c.attack)
def test_each_class_declares_everything_the_registries_derive(cls) -> None:
    """Every registry reads the class: a declaration missing a piece fails here, not in a report or a job."""
    assert cls.art_class.count(".") >= 2 and cls.paper.startswith("https://")
    assert vocab.ATTACK_DISPLAY[cls.attack] == cls.display and cls.attack in vocab.ATTACK_REGISTRY_NAMES
    assert cls.attack in get_args(vocab.AttackName)
    assert AttackJob(target=TARGET, attack=cls.attack).params == cls()  # the union knows it
    evals = parse_params(cls.attack, {}).evals(5, 16, 1.0)
    assert evals and all(kind in ("F", "G") and n > 0 and b >= 1 for kind, n, b in evals)


def test_merged_report_row_sits_before_the_attacks_it_merges() -> None:
    assert vocab.ATTACK_ORDER.index("cw") == vocab.ATTACK_ORDER.index("cw_l2") - 1
    assert [m.attack for m in ATTACK_CLASSES if m.report_row == ("cw", "C&W")] == ["cw_l2", "cw_linf"]


def test_spec_holds_the_attacks_model_built_from_a_mapping() -> None:
    job = AttackJob(target=TARGET, attack="bim", params={"eps": 0.5})
    assert isinstance(job.params, BimParams) and job.params.eps == 0.5 and job.params.max_iter == 100
    assert job.params.given() == {"eps": 0.5}  # the canonical JSON keeps what was given
    assert job.params.kwargs()["max_iter"] == 100  # ART gets every parameter
    assert job_from_dict(job.model_dump(mode="json")) == job


def test_job_ids_of_existing_runs_are_unchanged() -> None:
    """Pinned from the tree before parameters were typed (params as a plain dict): run folders keep their ids."""
    full = AttackJob(target=TARGET, attack="fgsm", params=parse_params("fgsm", {"eps": 0.5}))
    assert full.job_id == "895bb8bae4b361c6"
    assert AttackJob(target=TARGET, attack="fgsm", params={"eps": 0.5}).job_id == "cf13a7c1396da50d"
    assert AttackJob(target=TARGET, attack="pixel", params=parse_params("pixel", {"th": None})).job_id == \
        "accd376b4d10266f"


def test_parse_params_sets_every_field() -> None:
    p = parse_params("fgsm", {"eps": 0.5})
    assert isinstance(p, FgsmParams) and p.given() == p.kwargs() and p.given()["eps_step"] == 0.1


def test_bad_parameters_fail_when_the_spec_is_built() -> None:
    with pytest.raises(ValidationError) as err:
        AttackJob(target=TARGET, attack="fgsm", params={"eps": -1, "epz": 2})
    assert {e["loc"] for e in err.value.errors()} == {("params", "eps"), ("params", "epz")}
    with pytest.raises(ValidationError, match="parameters of 'fgsm' given for attack 'bim'"):
        AttackJob(target=TARGET, attack="bim", params=parse_params("fgsm", {}))
    with pytest.raises(ValidationError) as err:
        AttackJob(target=TARGET, attack="cw_l0")
    assert [e["loc"] for e in err.value.errors()] == [("attack",)]  # reported once, under `attack`
    with pytest.raises(ConfigError, match="unknown attack 'cw_l0'"):
        parse_params("cw_l0", {})


def test_specs_validate_parameters_without_tensorflow_or_art() -> None:
    code = ("import sys; from sercore.specs import AttackJob, CorpusSpec, DataSpec, TrainJob; "
            "AttackJob(target=TrainJob(data=DataSpec(corpus=CorpusSpec(name='synthetic'))), attack='bim', "
            "params={'eps': 0.5}); print('tensorflow' in sys.modules or 'art' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
