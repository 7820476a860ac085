"""sercore.vocab is the one owner of each closed vocabulary: specs, loaders, the registry and the report agree with
it, and declaring a spec field through it leaves canonical JSON (so job ids) unchanged."""

from __future__ import annotations

import json
from typing import get_args

from sercore import vocab
from sercore.attacks import ATTACKS
from sercore.datasets import LOADERS
from sercore.models import ARCHITECTURES
from sercore.normalize import METHODS
from sercore.specs import CorpusSpec, DataSpec, ModelSpec, TrainJob


def test_corpora_carry_language_display_name_and_paper_order() -> None:
    assert vocab.CORPORA == ("emodb", "emovo", "ravdess", "synthetic")
    assert vocab.PAPER_CORPORA == ("emodb", "emovo", "ravdess")
    assert vocab.LANGUAGE == {"emodb": "de", "emovo": "it", "ravdess": "en", "synthetic": "xx"}
    assert [vocab.CORPUS_DISPLAY[c] for c in vocab.CORPORA] == ["EmoDB", "EMOVO", "RAVDESS", "Synthetic"]
    assert sorted(["synthetic", "zzz", "ravdess", "emodb"], key=vocab.corpus_rank) == [
        "emodb", "ravdess", "synthetic", "zzz"]


def test_attack_names_and_order_match_the_registry() -> None:
    assert set(ATTACKS) == set(vocab.ATTACK_REGISTRY_NAMES)
    assert vocab.ATTACK_ORDER[:5] == ("fgsm", "bim", "deepfool", "jsma", "cw")
    assert vocab.ATTACK_DISPLAY["cw"] == "C&W" and vocab.ATTACK_DISPLAY["pixel"] == "PixelAttack"
    assert sorted(["new_attack", "boundary", "fgsm", "cw"], key=vocab.attack_rank) == [
        "fgsm", "cw", "boundary", "new_attack"]


def test_specs_loaders_and_models_use_the_owner() -> None:
    assert tuple(LOADERS) == vocab.CORPORA
    assert tuple(vocab.BUILTIN_CORPORA) == vocab.CORPORA  # the name itself is open (manifest corpora)
    assert {c: CorpusSpec(name=c, root="/x").kept_emotions for c in vocab.CORPORA} == vocab.PAPER_EMOTIONS
    assert get_args(ModelSpec.model_fields["arch"].annotation) == vocab.ARCHS == tuple(ARCHITECTURES)
    assert get_args(DataSpec.model_fields["normalization"].annotation) == vocab.NORMALIZATIONS == METHODS
    assert get_args(DataSpec.model_fields["protocol"].annotation) == vocab.PROTOCOLS == ("paper", "clean", "speaker")


def test_spec_values_serialise_as_plain_strings_and_job_ids_are_unchanged() -> None:
    job = TrainJob(data=DataSpec(corpus=CorpusSpec(name="emodb", root="/x"), protocol="speaker",
                                 normalization="norm_max_local"), model=ModelSpec(arch="m3"))
    dumped = json.loads(job.canonical_json())
    assert type(dumped["data"]["corpus"]["name"]) is str and dumped["data"]["protocol"] == "speaker"
    assert type(job.model.arch) is str and type(job.data.normalization) is str
    # ids computed before the vocabularies moved to sercore.vocab
    assert job.job_id == "85bf48cc0d580ee7"
    assert TrainJob(data=DataSpec(corpus=CorpusSpec(name="synthetic")), model=ModelSpec()).job_id == "86c7b16d32962057"
