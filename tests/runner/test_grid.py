"""Grid expansion counts, overrides, upstream links and every kind of validation problem."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from runner.grid import GridError, load_grid
from sercore.specs import AttackJob, TrainJob, TuneJob


def problems(path: Path, overrides: tuple[str, ...] = ()) -> list[str]:
    with pytest.raises(GridError) as info:
        load_grid(path, overrides)
    return info.value.problems


def test_expansion_counts(make_grid, tmp_path: Path) -> None:
    grid = load_grid(make_grid())
    counts = {s: len(j) for s, j in grid.jobs.items()}
    ps = 2 * 2  # protocols x seeds
    assert counts == {
        "features": 1,  # one corpus, one feature setting; protocol/seed do not change features
        "tune": 2 * ps,
        "norm_study": 2 * 2 * ps,  # normalizations x standardize
        "arch_study": 2 * ps,
        "train": ps,
        "attack": ps * (2 + 2),  # fgsm: 2 eps; cw_linf: 1 config x 2 slices
    }
    assert grid.stages == ["features", "tune", "norm_study", "arch_study", "train", "attack"]
    assert all(isinstance(j.spec, TuneJob) for j in grid.jobs["tune"])
    assert {j.spec.study for j in grid.jobs["norm_study"]} == {"norm"}
    assert {j.spec.study for j in grid.jobs["train"]} == {"final"}


def test_attack_jobs_link_to_their_training_job(make_grid, tmp_path: Path) -> None:
    grid = load_grid(make_grid())
    train = {j.id: j.spec for j in grid.jobs["train"]}
    for job in grid.jobs["attack"]:
        assert isinstance(job.spec, AttackJob)
        assert job.upstream == job.spec.target.job_id and job.upstream_stage == "train"
        assert train[job.upstream] == job.spec.target
    cw = [j.spec for j in grid.jobs["attack"] if j.spec.attack == "cw_linf"]
    assert sorted((s.slice, s.slices) for s in cw) == [(0, 2)] * 4 + [(1, 2)] * 4
    # the validator's completed parameter set is what the job carries
    assert all(j.spec.params.given()["confidence"] == 0.0 for j in grid.jobs["attack"] if j.spec.attack == "cw_linf")
    fgsm = sorted(j.spec.params.given()["eps"] for j in grid.jobs["attack"] if j.spec.attack == "fgsm")
    assert fgsm == [0.25] * 4 + [1.0] * 4


def test_model_stages_depend_on_features(make_grid, tmp_path: Path) -> None:
    grid = load_grid(make_grid())
    feat = grid.jobs["features"][0].id
    assert {(j.upstream, j.upstream_stage) for j in grid.jobs["train"]} == {(feat, "features")}
    no_features = load_grid(make_grid(stages__features=None))
    assert {j.upstream for j in no_features.jobs["train"]} == {None}


def test_fast_attack_ids_equal_spec_ids(make_grid) -> None:
    grid = load_grid(make_grid())
    assert all(j.id == j.spec.job_id for jobs in grid.jobs.values() for j in jobs)


def test_ids_are_stable_and_unique(make_grid, tmp_path: Path) -> None:
    a = load_grid(make_grid())
    b = load_grid(make_grid())
    assert [j.id for s in a.jobs.values() for j in s] == [j.id for s in b.jobs.values() for j in s]
    for jobs in a.jobs.values():
        assert len({j.id for j in jobs}) == len(jobs)


def test_sequence_fields_take_lists_and_sweep_with_lists_of_lists(make_grid, tmp_path: Path) -> None:
    one = load_grid(make_grid(features={"pitch_steps": [-2.0, 2.0]}))
    assert one.jobs["features"][0].spec.features.pitch_steps == (-2.0, 2.0)
    two = load_grid(make_grid(features={"pitch_steps": [[-2.0], [2.0]], "db": ["paper", "standard"]}))
    assert len(two.jobs["features"]) == 4
    tune = load_grid(make_grid(stages__tune__lstm_units=[4, 8]))
    assert {j.spec.lstm_units for j in tune.jobs["tune"]} == {(4, 8)}


def test_list_of_mappings_is_a_sweep_of_alternatives(make_grid, tmp_path: Path) -> None:
    grid = load_grid(make_grid(stages__train__model=[{"arch": "final", "width": 0.25}, {"arch": "m0"}]))
    assert sorted(j.spec.model.arch for j in grid.jobs["train"]) == ["final"] * 4 + ["m0"] * 4


def test_per_corpus_settings_override_the_stage(make_grid, tmp_path: Path, emodb_dir: Path) -> None:
    corpora = [{"name": "synthetic"}, {"name": "emodb", "root": str(emodb_dir)}]
    grid = load_grid(make_grid(
        corpora=corpora, stages__train__per_corpus={"emodb": {"train": {"batch_size": 8}}}))
    sizes = {(j.spec.data.corpus.name, j.spec.train.batch_size) for j in grid.jobs["train"]}
    assert sizes == {("synthetic", 32), ("emodb", 8)}
    assert {j.spec.train.epochs for j in grid.jobs["train"]} == {1}  # the rest of the block still applies


@pytest.fixture
def emodb_dir(tmp_path: Path) -> Path:
    path = tmp_path / "emodb"
    path.mkdir()
    return path


def test_env_interpolation(make_grid, tmp_path: Path, emodb_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_EMODB_ROOT", str(emodb_dir))
    grid = load_grid(make_grid(corpora=[{"name": "emodb", "root": "${FAKE_EMODB_ROOT}"}]))
    assert grid.jobs["features"][0].spec.corpus.root == str(emodb_dir)


def test_overrides(make_grid, tmp_path: Path) -> None:
    path = make_grid()
    grid = load_grid(path, ["seeds=[0, 1, 2]", "stages.train.train.epochs=5", "corpora.0.synthetic_per_class=3"])
    assert len(grid.jobs["train"]) == 6
    assert {j.spec.train.epochs for j in grid.jobs["train"]} == {5}
    assert grid.jobs["features"][0].spec.corpus.synthetic_per_class == 3
    assert grid.raw["seeds"] == [0, 1, 2]  # the frozen copy carries the overrides
    with pytest.raises(Exception, match=r"corpora has no item '5'"):
        load_grid(path, ["corpora.5.root=/x"])
    with pytest.raises(Exception, match="expected key.path=value"):
        load_grid(path, ["seeds"])


def test_resources_merge_default_and_stage(make_grid, tmp_path: Path) -> None:
    grid = load_grid(make_grid(resources={"default": {"cpus": 2, "mem": "8G"}, "attack": {"gpus": 1}}))
    assert grid.resources("attack").gpus == 1 and grid.resources("attack").mem == "8G"
    assert grid.resources("train").gpus == 0 and grid.resources("train").cpus == 2


# ---------------------------------------------------------------- one test per kind of problem


def test_unknown_top_level_key(make_grid, tmp_path: Path) -> None:
    (p,) = problems(make_grid(seedz=[1]))
    assert p.startswith(f"{tmp_path / 'grid.yaml'}: seedz: unknown key (expected one of name, output")


def test_unknown_nested_key_lists_valid_keys(make_grid, tmp_path: Path) -> None:
    (p,) = problems(make_grid(stages__train__model={"widht": 0.25}))
    assert p.endswith("stages.train.model.widht: unknown key (expected one of arch, classes, dropout, factory, "
                      "factory_sha256, file, file_sha256, lstm_dropout, lstm_units, output, params, "
                      "standardizes_inside, trained, width)")


def test_unknown_stage_block_key(make_grid, tmp_path: Path) -> None:
    (p,) = problems(make_grid(stages__arch_study__epochs=3))
    assert "stages.arch_study.epochs: unknown key (expected one of" in p and "model" in p


def test_invalid_choice_names_the_options(make_grid, tmp_path: Path) -> None:
    (p,) = problems(make_grid(executor="lokal"))
    assert p.endswith("executor: invalid value (got 'lokal'; expected one of 'local', 'debug' or 'slurm')")


def test_out_of_range_value_inside_a_sweep(make_grid, tmp_path: Path) -> None:
    (p,) = problems(make_grid(stages__train__train={"epochs": [1, 0]}))
    assert p.endswith("stages.train.train.epochs: Input should be greater than or equal to 1 (got 0)")


def test_unset_environment_variable(make_grid, tmp_path: Path) -> None:
    found = problems(make_grid(corpora=[{"name": "emodb", "root": "${SURELY_UNSET_ROOT_42}"}]))
    assert any("corpora[0].root: environment variable SURELY_UNSET_ROOT_42 is not set" in p for p in found)


def test_missing_corpus_root_folder(make_grid, tmp_path: Path) -> None:
    (p,) = problems(make_grid(corpora=[{"name": "emodb", "root": str(tmp_path / "nope")}]))
    assert "corpora[0].root: folder does not exist" in p


def test_missing_corpora(make_grid, tmp_path: Path) -> None:
    found = problems(make_grid(corpora=None))
    assert any("corpora: required non-empty list" in p for p in found)


def test_unknown_corpus_in_per_corpus(make_grid, tmp_path: Path) -> None:
    (p,) = problems(make_grid(stages__train__per_corpus={"ravdess": {}}))
    assert p.endswith("stages.train.per_corpus.ravdess: not a corpus of this grid (expected one of synthetic)")


def test_unknown_stage(make_grid, tmp_path: Path) -> None:
    (p,) = problems(make_grid(stages__frobnicate={}))
    assert "stages.frobnicate: unknown stage (expected one of features, tune" in p


def test_attack_without_train_stage(make_grid, tmp_path: Path) -> None:
    (p,) = problems(make_grid(stages__train=None))
    assert "stages.attack: needs stages.train" in p


def test_attack_parameters_checked_against_art(make_grid, tmp_path: Path) -> None:
    found = problems(make_grid(stages__attack__attacks={"fgsm": {"eps": [0.1, -0.1]}, "pgdx": {}}))
    assert any(p.endswith("stages.attack.attacks.fgsm.eps: must be greater than 0 (got -0.1)") for p in found)
    assert any("stages.attack.attacks.pgdx: unknown attack 'pgdx'" in p for p in found)


def test_bad_slices(make_grid, tmp_path: Path) -> None:
    found = problems(make_grid(stages__attack__slices={"default": 0, "bim": 2}))
    assert any("stages.attack.slices.bim: not an attack of this grid" in p for p in found)
    assert any("stages.attack.slices.default: must be a whole number >= 1 (got 0)" in p for p in found)


def test_unknown_resources_stage_and_key(make_grid, tmp_path: Path) -> None:
    found = problems(make_grid(resources={"trian": {"gpus": 1}, "train": {"gpu": 1}}))
    assert any("resources.trian: unknown stage" in p for p in found)
    assert any("resources.train.gpu: unknown key" in p for p in found)


def test_empty_sweep(make_grid, tmp_path: Path) -> None:
    found = problems(make_grid(stages__train__train={"epochs": []}))
    assert any("stages.train.train.epochs: empty list" in p for p in found)


def test_all_problems_reported_at_once(make_grid, tmp_path: Path) -> None:
    found = problems(make_grid(executor="x", seedz=1, stages__train__model={"width": 9}))
    assert len(found) == 3
    assert all(p.startswith(str(tmp_path / "grid.yaml") + ": ") for p in found)


def test_not_yaml_mapping_and_bad_yaml(make_grid, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(Exception, match="a grid is a mapping of keys"):
        load_grid(bad)
    bad.write_text("name: [unclosed\n")
    with pytest.raises(Exception, match="not valid YAML"):
        load_grid(bad)


def test_safe_load_only(make_grid, tmp_path: Path) -> None:
    bad = tmp_path / "evil.yaml"
    bad.write_text("name: !!python/object/apply:os.system ['echo hi']\n")
    with pytest.raises(Exception, match="not valid YAML"):
        load_grid(bad)


# ---------------------------------------------------------------- path safety


@pytest.mark.parametrize("name", ["a/b", "..", "../up", "/abs", "", ".hidden"])
def test_grid_name_must_be_path_safe(make_grid, tmp_path: Path, name: str) -> None:
    found = problems(make_grid(name=name))
    assert any(": name: must be a plain name" in p for p in found)


@pytest.mark.parametrize("attack", ["x/y", "..", "/etc"])
def test_attack_name_must_be_path_safe(make_grid, tmp_path: Path, attack: str) -> None:
    found = problems(make_grid(stages__attack__attacks={attack: {}}, stages__attack__slices=1))
    assert any(f"stages.attack.attacks.{attack}: attack name must be a plain name" in p for p in found)


def test_train_jobs_are_frozen(make_grid, tmp_path: Path) -> None:
    job = load_grid(make_grid()).jobs["train"][0].spec
    assert isinstance(job, TrainJob)
    with pytest.raises(ValidationError, match="frozen"):
        job.study = "arch"  # type: ignore[misc]


def test_missing_site_profile(make_grid, tmp_path: Path) -> None:
    (p,) = problems(make_grid(profile=str(tmp_path / "nope.yaml")))
    assert "profile: " in p and "cannot read site profile" in p


def test_real_art_parameter_check(make_grid) -> None:
    """Against the registry's parameter models: completed params, named problems."""
    grid = load_grid(make_grid())
    fgsm = next(j.spec for j in grid.jobs["attack"] if j.spec.attack == "fgsm")
    given = fgsm.params.given()
    assert given["eps"] == 0.25 and "eps_step" in given  # defaults filled in by the registry
    found = problems(make_grid(stages__attack__attacks={"fgsm": {"eps": -0.1}, "bim": {"max_itr": 3}}))
    assert any("stages.attack.attacks.fgsm.eps:" in p and "-0.1" in p for p in found)
    assert any("stages.attack.attacks.bim" in p and "max_itr" in p for p in found)


def test_env_default_and_default_output(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    monkeypatch.delenv("SURELY_UNSET_CACHE_42", raising=False)
    path = tmp_path / "g.yaml"
    path.write_text(yaml.safe_dump({"name": "t", "cache": "${SURELY_UNSET_CACHE_42:-/tmp/c}",
                                    "corpora": [{"name": "synthetic"}], "stages": {"features": {}}}))
    grid = load_grid(path)
    assert grid.output == Path("runs/t") and grid.cache == Path("/tmp/c")


def test_more_slices_than_chunks(make_grid) -> None:
    found = problems(make_grid(stages__attack__limit=8, stages__attack__chunk_size=64))
    assert any("stages.attack.slices.cw_linf: 2 slices but limit 8 / chunk_size 64 makes only 1 chunk(s)" in p
               for p in found)
    load_grid(make_grid(stages__attack__limit=8, stages__attack__chunk_size=4))  # 2 chunks: fine


def test_transfer_stage_pairs_sources_with_same_pipeline_targets(make_grid) -> None:
    from sercore.specs import TransferJob

    grid = load_grid(make_grid(stages__transfer={"attacks": ["fgsm"]}))
    jobs = grid.jobs["transfer"]
    # 4 sources (protocols x seeds) x (4 final + 8 arch + 8 norm_study models with `original`; norm_sum excluded)
    assert len(jobs) == 4 * 20 and grid.stages[-1] == "transfer"
    attack_ids = {j.id for j in grid.jobs["attack"]}
    for j in jobs:
        assert isinstance(j.spec, TransferJob) and j.upstream_stage == "attack" and j.upstream in attack_ids
        assert {a.attack for a in j.spec.attacks} == {"fgsm"} and len(j.spec.attacks) == 2  # both eps
        assert j.spec.target.data.normalization == "original"
    assert sum(j.spec.source == j.spec.target for j in jobs) == 4  # the replay diagonal
    only_final = load_grid(make_grid(stages__transfer={"targets": ["train"]})).jobs["transfer"]
    assert len(only_final) == 4 * 4 and {len(j.spec.attacks) for j in only_final} == {4}  # fgsm x2 + cw_linf x2


def test_transfer_stage_problems(make_grid, tmp_path: Path) -> None:
    found = problems(make_grid(stages__transfer={"attacks": ["pgd"], "targets": ["tune"], "extra": 1}))
    assert any("stages.transfer.attacks: 'pgd' is not one of this grid's attacks" in p for p in found)
    assert any("stages.transfer.targets: 'tune'" in p for p in found)
    assert any("stages.transfer.extra: unknown key" in p for p in found)
    assert any("needs stages.attack" in p for p in problems(make_grid(stages__attack=None, stages__transfer={})))


def test_a_stage_may_run_a_subset_of_the_protocols(make_grid) -> None:
    grid = load_grid(make_grid(stages__tune__protocols=["paper"], protocols=["paper", "clean", "speaker"]))
    assert {j.spec.data.protocol for j in grid.jobs["tune"]} == {"paper"}
    assert {j.spec.data.protocol for j in grid.jobs["train"]} == {"paper", "clean", "speaker"}
    found = problems(make_grid(stages__tune__protocols=["speaker"]))
    assert any("stages.tune.protocols: must be a non-empty subset" in p for p in found)


def test_attack_stage_may_attack_a_subset_of_the_protocols(make_grid) -> None:
    grid = load_grid(make_grid(stages__attack__protocols=["clean"]))
    assert {j.spec.target.data.protocol for j in grid.jobs["attack"]} == {"clean"}
    assert len(grid.jobs["attack"]) == 2 * (2 + 2)  # 2 seeds x (fgsm 2 eps + cw_linf 2 slices)


def test_split_seed_is_a_stage_key_and_sweeps(make_grid, tmp_path: Path) -> None:
    plain = load_grid(make_grid())
    assert {(j.spec.data.protocol, j.spec.data.effective_split_seed, j.spec.data.seed)
            for j in plain.jobs["train"]} == {("paper", 1938, 0), ("paper", 1938, 1), ("clean", 0, 0), ("clean", 1, 1)}
    swept = load_grid(make_grid(stages__train__split_seed=[7, 8]))
    assert sorted({j.spec.data.split_seed for j in swept.jobs["train"]}) == [7, 8] and len(swept.jobs["train"]) == 8


def test_folds_expand_under_the_leak_free_protocol_only(make_grid) -> None:
    grid = load_grid(make_grid(stages__train__folds=3))
    train = [j.spec for j in grid.jobs["train"]]
    clean = sorted((s.data.seed, s.data.fold) for s in train if s.data.protocol == "clean")
    assert clean == [(seed, f) for seed in (0, 1) for f in range(3)]
    assert {s.data.folds for s in train if s.data.protocol == "clean"} == {3}
    assert [(s.data.folds, s.data.fold) for s in train if s.data.protocol == "paper"] == [(None, 0)] * 2
    # attacks target every fold's model, so attack rows pool over all test recordings too
    assert len(grid.jobs["attack"]) == len(train) * 4


def test_bad_folds_value_names_the_key(make_grid) -> None:
    assert any("stages.train.folds" in p and "greater than or equal to 2" in p
               for p in problems(make_grid(stages__train__folds=1)))


@pytest.mark.parametrize("name", sorted(p.name for p in (Path(__file__).parents[2] / "grids").glob("*.yaml")))
def test_every_shipped_grid_loads_and_expands(name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("EMODB_ROOT", "EMOVO_ROOT", "RAVDESS_ROOT"):
        (tmp_path / var).mkdir()
        monkeypatch.setenv(var, str(tmp_path / var))
    (tmp_path / "byo.csv").write_text("path,emotion\na.wav,anger\nb.wav,sadness\n")  # byo-example.yaml's corpus
    monkeypatch.setenv("BYO_MANIFEST", str(tmp_path / "byo.csv"))
    monkeypatch.setenv("BYO_ROOT", str(tmp_path))
    grid = load_grid(Path(__file__).parents[2] / "grids" / name, [f"output={tmp_path / 'run'}"])
    assert grid.count() > 0 and all(grid.jobs[s] for s in grid.stages)


def test_waveform_block_makes_waveform_jobs_without_spectrogram_only_options() -> None:
    grid = load_grid(Path(__file__).resolve().parents[2] / "grids" / "demo.yaml")
    specs = [j.spec for j in grid.jobs["attack"]]
    wave = [s for s in specs if s.domain == "waveform"]
    assert {s.snr_db for s in wave} == {20.0, 30.0, 40.0}
    assert {s.attack for s in wave} == {"fgsm", "bim", "pgd", "cw_l2", "boundary"}
    assert all(s.resynth == 0 for s in wave) and any(s.resynth > 0 for s in specs if s.domain == "spectrogram")
    assert all(t.spec.attacks[0].domain == "spectrogram" for t in grid.jobs["transfer"])  # sounds are not replayed


def test_waveform_and_logits_jobs_say_so_in_their_labels() -> None:
    from runner.labels import labels

    grid = load_grid(Path(__file__).resolve().parents[2] / "grids" / "demo.yaml")
    names = labels(grid.jobs["attack"])
    wave = [names[j.id] for j in grid.jobs["attack"] if j.spec.domain == "waveform"]
    assert wave and all(" waveform SNR " in n and n.endswith(" dB") for n in wave)
    assert all("waveform" not in names[j.id] for j in grid.jobs["attack"] if j.spec.domain == "spectrogram")
