"""Job specs: the model's `output` setting keeps the ids of softmax specs and is refused where unsupported; an
attack's `check` keeps the ids of ordinary attack jobs."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from sercore.specs import AttackJob, CorpusSpec, DataSpec, ModelSpec, TrainJob, TuneJob, job_from_dict

DATA = DataSpec(corpus=CorpusSpec(name="synthetic"))
# The id tests/sercore/test_vocab.py pins for this spec, from before `output` existed.
PAPER_ID = "86c7b16d32962057"


def test_softmax_output_keeps_the_old_id_and_logits_get_their_own() -> None:
    softmax = TrainJob(data=DATA, model=ModelSpec(output="softmax"))
    assert softmax.job_id == TrainJob(data=DATA).job_id == PAPER_ID
    assert "output" not in softmax.canonical_json()
    logits = TrainJob(data=DATA, model=ModelSpec(output="logits"))
    assert logits.job_id != PAPER_ID and '"output":"logits"' in logits.canonical_json()
    for job in (softmax, logits):  # the plan's JSON form rebuilds the same spec
        assert job_from_dict(job.model_dump(mode="json")) == job


def test_unknown_output_and_tuning_logits_are_refused() -> None:
    with pytest.raises(ValidationError, match="softmax"):
        ModelSpec(output="probabilities")  # type: ignore[arg-type]
    TuneJob(stage=2, data=DATA)
    with pytest.raises(ValidationError, match="model.output: tuning supports the paper's softmax head only"):
        TuneJob(stage=2, data=DATA, model=ModelSpec(output="logits"))


def test_an_attack_check_keeps_ordinary_ids_and_runs_on_the_spectrogram_only() -> None:
    plain = AttackJob(target=TrainJob(data=DATA), attack="fgsm", params={"eps": 0.5})
    assert plain.job_id == "cf13a7c1396da50d"  # the id from before `check` existed
    check = AttackJob(target=TrainJob(data=DATA), attack="pgd", params={"eps": 100.0}, check="unbounded")
    assert '"check":"unbounded"' in check.canonical_json() and job_from_dict(check.model_dump(mode="json")) == check
    with pytest.raises(ValidationError, match="check 'unbounded' runs on the spectrogram only"):
        AttackJob(target=TrainJob(data=DATA), attack="pgd", check="unbounded", domain="waveform")
