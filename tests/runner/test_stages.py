"""runner.stages: the one stage table the rest of the runner reads."""

from __future__ import annotations

from runner import paths, stages
from runner.problems import Problems
from sercore.specs import TrainJob


def test_every_stage_reads_only_earlier_stages() -> None:
    order = {s.name: i for i, s in enumerate(stages.TABLE)}
    for row in stages.TABLE:
        assert all(order[n] < order[row.name] for n in stages.needs(row.name)), row.name
    assert stages.needs("transfer") == {"attack", "train", "arch_study", "norm_study"}
    assert stages.needs("features") == set()


def test_derived_lists_follow_the_table() -> None:
    assert paths.STAGES == stages.STAGES == ("features", "tune", "norm_study", "arch_study", "train", "attack",
                                             "transfer")
    assert stages.MODEL_STAGES == ("tune", "norm_study", "arch_study", "train")
    assert stages.TRANSFER_TARGETS == ("train", "arch_study", "norm_study")
    for study, stage in (("final", "train"), ("arch", "arch_study"), ("norm", "norm_study")):
        spec = TrainJob.model_construct(study=study)
        assert stages.model_stage(spec) == stage and stages.STUDY[stage] == study


def test_problems_prefix_the_file() -> None:
    found = Problems("g.yaml", ["early"])
    found.add("stages.x", "unknown stage")
    assert found == ["early", "g.yaml: stages.x: unknown stage"] and found.file == "g.yaml"
