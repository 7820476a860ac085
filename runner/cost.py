"""Predict a grid's cost before submitting it: worker-hours and wall time per stage on N workers.

    python -m runner plan GRID --estimate [--gpus N] [--calibration FILE] [--json]

Every job's time is `fixed + work`. `work` counts what the job computes, in units measured once per machine by
`python -m runner calibrate` (runner/calibrate.py): seconds per sample of a forward pass, of a forward+backward
pass and of a training step at several batch sizes, per (architecture, width); seconds per file version of
feature extraction; seconds per segment to load and prepare data. `fixed` is what every job pays however small:
interpreter + TensorFlow import, model load, tracing the compiled functions; the local executor pays the import
once per stage, Slurm once per job (plus `slurm_task_s`), a pack (runner/pack.py) once per pack.

Model evaluations per attacked sample come from each attack's parameters (its class's `evals` in
sercore.attack_params, formulas documented in docs/attacks.md "Cost before you submit"): loop bounds read from
ART 1.20's code, times a per-attack `typical` fraction for the loops that stop early (DeepFool, JSMA, C&W,
PixelAttack, Boundary), fitted on real EmoDB from the evaluations attack jobs count (benchmarks/typical.py;
AutoAttack's and Square's are still guesses).

Wall time on N workers: each stage's jobs are scheduled longest-first on min(N, array_parallelism) workers and
stages run one after another (an upper bound: Slurm lets the studies, tuning and training overlap).
Pure functions over the expanded grid; nothing here imports TensorFlow.
"""

from __future__ import annotations

import functools
import heapq
import json
import math
from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from sercore.attack_params import ATTACK_CLASSES, PARAMS, parse_params
from sercore.errors import ConfigError
from sercore.specs import AttackJob, CorpusSpec, DataSpec, FeaturesJob, TrainJob, TrainSettings, TransferJob, TuneJob
from sercore.train import XLA_CPU_MIN_SAMPLE_PASSES
from sercore.tune import STAGE1_BATCH

DEFAULT_CALIBRATION = Path(__file__).with_name("data") / "calibration-devvm-cpu.json"
FLOP_EXPONENT = 2.0  # parameters and multiply-adds of every layer grow with width squared

# Kept files, mean seconds per kept file and segments per kept file and version of a corpus whose feature store is
# not built yet (with a store in the run's cache its exact segment count is used). emodb and synthetic: measured
# (docs/data.md: 339 kept files of 2.94 s mean, 4181 segments with the 9 versions; the demo's 60 synthetic files
# give 89, and the generator draws 0.8-6 s of speech between two 0.1-0.5 s pads); emovo and ravdess: assumed from
# their mean utterance lengths (not measured). A manifest corpus counts its own rows and reads its files' lengths.
KEPT_FILES = {"emodb": 339, "emovo": 420, "ravdess": 960}
FILE_S = {"emodb": 2.94, "emovo": 3.1, "ravdess": 3.7, "synthetic": 4.0}
SEGMENTS_PER_VERSION = {"emodb": 4181 / 9 / 339, "emovo": 1.5, "ravdess": 1.3, "synthetic": 89 / 60}
# A manifest corpus before its store is built: EmoDB's measured segments per file version; lengths from this many
# of its files' headers.
MANIFEST_SEGMENTS_PER_VERSION, MANIFEST_SAMPLED_FILES = SEGMENTS_PER_VERSION["emodb"], 64
SYNTHETIC_SPEAKERS, SYNTHETIC_PER_CLASS = 4, 8
TEST_FRACTION, VAL_FRACTION = 0.2, 0.2  # sercore.splits: 80/20, then 20 % of the rest for validation

# Fraction of an attack's loop bound that it runs on average (1 = no early stop). FGSM and BIM have no early
# stop; the others are fitted from the evaluations attack jobs count (`chunk_evals_*`, benchmarks/typical.py).
# Declared per attack class (`typical`); a dict here so benchmarks/attacks.py can set them all to 1 (loop bounds).
TYPICAL: dict[str, float] = {m.attack: m.typical for m in ATTACK_CLASSES}
# The one batch size at which calibration files older than the per-batch `train_s` table measured `train_step_s`.
TRAIN_BATCH = 32
# Seconds per segment of an attack job's `resynth` round trip (Griffin-Lim + features; clean and adversarial each):
# 0.40 s measured on 2 busy shared CPU cores (docs/attacks.md).
RESYNTH_S = 0.4
# CPU seconds per waveform adversarial example for its quality metrics (sercore.quality: PESQ ~0.09 s, STOI
# ~0.015 s, segmental SNR < 1 ms per 3-s segment, measured on the shared 2-core VM).
QUALITY_S = 0.11
# Samples per eager call of a transfer job (sercore.transfer_job.BATCH, which imports pandas and numpy).
TRANSFER_BATCH = 256


# ---------------------------------------------------------------- calibration


@dataclass(frozen=True)
class ModelCost:
    """Seconds per sample for one (arch, width): forward, forward+backward and training step by batch size."""

    arch: str
    width: float
    forward_s: dict[int, float]
    grad_s: dict[int, float]
    train_step_s: float  # the training step at TRAIN_BATCH: what files older than `train_s` hold, and width scaling
    trace_s: float = 0.0  # first predict + first gradient call minus warm ones (attack jobs)
    train_trace_s: float = 0.0  # first training epoch minus a warm one (every fit: train job, tune trial)
    train_s: dict[int, float] = field(default_factory=dict)  # training step by batch size; {} in older files
    # The same with XLA (jit_compile) and its first-epoch compilation: CPU files from `fit_s` on; {} / 0 before.
    train_xla_s: dict[int, float] = field(default_factory=dict)
    train_trace_xla_s: float = 0.0
    # A real training job (sercore.train) beyond its epochs' steps: per job (build, compile, tracing, predict,
    # save) and per epoch (validation set-up, callbacks, the resume backup); 0 in files before them.
    fit_s: float = 0.0
    epoch_s: float = 0.0
    # The same job with XLA, its training and validation sets ending in short batches: every compilation; 0 before.
    fit_xla_s: float = 0.0
    # An attack job's own work beyond tracing and the evaluations priced (checks, chunk files, rows); 0 before.
    attack_job_s: float = 0.0
    # The same per attack (building it, tracing its own functions); {} before, and for archs not attacked.
    attack_setup_s: dict[str, float] = field(default_factory=dict)
    # An eager call of the Keras model (what a transfer job makes) per sample by batch size, and its first call's
    # extra seconds; {} / 0 before.
    eager_s: dict[int, float] = field(default_factory=dict)
    eager_trace_s: float = 0.0
    # A Keras Tuner search (sercore.tune) beyond its epochs' XLA steps: once per job and per trial (build, compile,
    # XLA compilation, the tuner's checkpoints; no predict or save); 0 before (then fit_fixed per trial).
    tune_job_s: float = 0.0
    trial_s: float = 0.0

    def per_sample(self, kind: str, batch: int) -> float:
        """Per-sample cost at a batch size (F forward, G forward+backward, T training step, X training step with
        XLA, E an eager forward call): log-log interpolation between measured batches, flat outside; T of an older
        file is its one train_step_s at every batch, X of a file without it is T, E without it is F."""
        train = self.train_s or {TRAIN_BATCH: self.train_step_s}
        table = {"F": self.forward_s, "G": self.grad_s, "T": train, "X": self.train_xla_s or train,
                 "E": self.eager_s or self.forward_s}
        return interpolate(table[kind], batch)

    def fit_fixed(self, xla: bool) -> float:
        """Seconds a fit pays once: the measured job overhead (with XLA: measured so, or XLA's compilation in place
        of plain tracing), or in an older file the first epoch's tracing alone."""
        if xla and self.fit_xla_s:
            return self.fit_xla_s
        if not self.fit_s:
            return self.train_trace_s
        return self.fit_s + (self.train_trace_xla_s - self.train_trace_s if xla and self.train_xla_s else 0.0)

    def scaled(self, arch: str, width: float, k: float) -> ModelCost:
        """This cost for another (arch, width), every per-sample time times k (tracing and overheads do not)."""
        return replace(self, arch=arch, width=width, forward_s=_times(self.forward_s, k),
                       grad_s=_times(self.grad_s, k), train_step_s=self.train_step_s * k,
                       train_s=_times(self.train_s, k), train_xla_s=_times(self.train_xla_s, k),
                       eager_s=_times(self.eager_s, k))


def _times(table: dict[int, float], k: float) -> dict[int, float]:
    return {b: v * k for b, v in table.items()}


def interpolate(table: dict[int, float], batch: int) -> float:
    """A {batch: per-sample seconds} table at any batch: log-log between measured sizes, flat outside."""
    sizes = sorted(table)
    if batch <= sizes[0]:
        return table[sizes[0]]
    if batch >= sizes[-1]:
        return table[sizes[-1]]
    for lo, hi in zip(sizes, sizes[1:], strict=False):
        if lo <= batch <= hi:
            t = (math.log(batch) - math.log(lo)) / (math.log(hi) - math.log(lo))
            return math.exp((1 - t) * math.log(table[lo]) + t * math.log(table[hi]))
    return table[sizes[-1]]


@dataclass(frozen=True)
class Calibration:
    """What `python -m runner calibrate` measured on one machine (see the JSON's `label`)."""

    label: str
    device: str
    startup_s: float  # interpreter + import of TensorFlow, Keras, ART and sercore
    model_load_s: float
    data_per_segment_s: float  # open the store, split, normalise, standardise: per segment
    features_per_version_s: float  # feature extraction per (file x version), one core
    models: tuple[ModelCost, ...]
    slurm_task_s: float = 2.0  # scheduling + srun start per array task (dev cluster: see docs/runner.md)
    source: str = ""
    raw: dict[str, Any] = field(default_factory=dict, compare=False)
    # A real features job (runner.calibrate.features_job_costs): fixed seconds, seconds per file version on the
    # calibrated machine's cores, generation per synthetic file; 0 in files before them (then features_per_version_s).
    features_job_s: float = 0.0
    features_job_per_version_s: float = 0.0
    synthetic_per_file_s: float = 0.0
    # The same per second of audio and version (a corpus of longer files costs more per file); 0 before.
    features_job_per_audio_s: float = 0.0

    def model(self, arch: str, width: float) -> tuple[ModelCost, bool]:
        """The measured cost of (arch, width); else the nearest width of that arch (or of `final`), scaled.

        Returns (cost, exact). Scaling between widths uses the exponent fitted on the arch's measured widths
        (2.0 when only one: conv FLOPs and LSTM weights grow with units in x units out). Above the widest
        measured width the exponent is at least 2: small models are overhead-bound, so their fitted exponent
        understates growth (on the dev VM 0.25 -> 0.5 fitted 0.81, and a full-width epoch then took ~3x the
        time that exponent gave; docs/runner.md).
        """
        same = [m for m in self.models if m.arch == arch] or [m for m in self.models if m.arch == "final"]
        if not same:
            raise ConfigError(f"{self.source}: calibration has no model to scale from (arch {arch})")
        for m in same:
            if m.arch == arch and math.isclose(m.width, width):
                return m, True
        alpha = _width_exponent(same)
        if width > max(m.width for m in same):
            alpha = max(alpha, FLOP_EXPONENT)
        near = min(same, key=lambda m: abs(math.log(m.width / width)))
        return near.scaled(arch, width, (width / near.width) ** alpha), False

    @property
    def train_by_batch(self) -> bool:
        """Whether every model has its training step measured per batch size (files before that have one value)."""
        return all(m.train_s for m in self.models)

    def notes(self) -> list[str]:
        """What `plan --estimate` should say about this file's limits."""
        if self.train_by_batch:
            return []
        return [f"{self.source}: training step measured at one batch size only (an older calibration file): every "
                "batch size is priced at that per-sample time; rerun `python -m runner calibrate` to measure it "
                "per batch size"]


def _width_exponent(models: list[ModelCost]) -> float:
    pts = sorted({(m.width, m.train_step_s) for m in models if m.train_step_s > 0})
    if len(pts) < 2:
        return FLOP_EXPONENT
    (w0, c0), (w1, c1) = pts[0], pts[-1]
    return max(0.5, min(3.0, math.log(c1 / c0) / math.log(w1 / w0)))


def _table(d: Mapping[str, Any]) -> dict[int, float]:
    """A {batch: seconds} table as JSON stores it (string keys)."""
    return {int(k): float(v) for k, v in d.items()}


def _model_cost(m: Mapping[str, Any]) -> ModelCost:
    """One model's entry of a calibration JSON; what an older file lacks takes the field's default (0 or {})."""

    def num(k: str) -> float:
        return float(m.get(k, 0.0))

    def table(k: str) -> dict[int, float]:
        return _table(m.get(k, {}))

    return ModelCost(
        m["arch"], float(m["width"]), table("forward_s"), table("grad_s"), float(m["train_step_s"]),
        trace_s=num("trace_s"), train_trace_s=num("train_trace_s"), train_s=table("train_s"),
        train_xla_s=table("train_xla_s"), train_trace_xla_s=num("train_trace_xla_s"), fit_s=num("fit_s"),
        epoch_s=num("epoch_s"), fit_xla_s=num("fit_xla_s"), attack_job_s=num("attack_job_s"), eager_s=table("eager_s"),
        attack_setup_s={str(k): float(v) for k, v in m.get("attack_setup_s", {}).items()},
        eager_trace_s=num("eager_trace_s"), tune_job_s=num("tune_job_s"), trial_s=num("trial_s"))


def load_calibration(path: str | Path | None = None) -> Calibration:
    """Read a calibration JSON (default: the shipped one for this project's development CPU machine)."""
    path = Path(path) if path is not None else DEFAULT_CALIBRATION
    try:
        d = json.loads(path.read_text(encoding="utf-8"))
        models = tuple(_model_cost(m) for m in d["models"])
        return Calibration(
            label=d["label"], device=d["device"], startup_s=float(d["startup_s"]),
            model_load_s=float(d["model_load_s"]), data_per_segment_s=float(d["data_per_segment_s"]),
            features_per_version_s=float(d["features_per_version_s"]), models=models,
            slurm_task_s=float(d.get("slurm_task_s", 2.0)), source=str(path), raw=d,
            **{k: float(d.get(k, 0.0)) for k in ("features_job_s", "features_job_per_version_s",
                                                  "synthetic_per_file_s", "features_job_per_audio_s")},
        )
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read calibration ({exc.strerror}); "
                          "run `python -m runner calibrate`") from exc
    except (ValueError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: not a calibration file ({type(exc).__name__}: {exc})") from exc


# ---------------------------------------------------------------- data sizes


@dataclass(frozen=True)
class CorpusSize:
    """What a features job's cost needs of a corpus before it is read: kept files, their mean length in seconds,
    segments per file version."""

    files: int
    file_s: float
    segments_per_version: float


def corpus_size(corpus: CorpusSpec) -> CorpusSize:
    """A built-in corpus from the tables above (scaled to the emotions kept), a manifest corpus from its manifest."""
    if corpus.manifest is not None:
        return _manifest_size(corpus.model_dump_json())
    if corpus.name == "synthetic":
        per_class = corpus.synthetic_per_class or SYNTHETIC_PER_CLASS
        files = SYNTHETIC_SPEAKERS * len(corpus.kept_emotions) * per_class
    else:
        paper = len(corpus.kept_emotions) if corpus.emotions is None else len(corpus.emotions)
        files = round(KEPT_FILES[corpus.name] * paper / 5)
    return CorpusSize(files, FILE_S[corpus.name], SEGMENTS_PER_VERSION[corpus.name])


@functools.lru_cache(maxsize=32)
def _manifest_size(spec_json: str) -> CorpusSize:
    """Rows of a manifest with a kept emotion, and the mean length of up to MANIFEST_SAMPLED_FILES of their files
    (evenly spaced; read from the headers). Keyed by the spec's JSON: a plan prices many jobs of one corpus."""
    import soundfile as sf

    from sercore.datasets.manifest import validate

    corpus = CorpusSpec.model_validate_json(spec_json)
    manifest, problems = validate(corpus)
    if manifest is None:
        raise ConfigError(problems[0])
    rows = manifest.table[manifest.table["emotion"].isin(corpus.kept_emotions)]
    step = max(1, len(rows) // MANIFEST_SAMPLED_FILES)
    root = Path(corpus.root or ".").expanduser()
    lengths = []
    for rel in rows["path"].iloc[::step]:
        try:
            lengths.append(sf.info(str(root / rel)).duration)
        except (OSError, RuntimeError):  # an unreadable file is the features job's to reject, not the plan's
            continue
    mean = sum(lengths) / len(lengths) if lengths else FILE_S["emodb"]
    return CorpusSize(len(rows), mean, MANIFEST_SEGMENTS_PER_VERSION)


def corpus_files(corpus: CorpusSpec) -> int:
    return corpus_size(corpus).files


def versions(job_features: Any) -> int:
    return 1 + (len(job_features.pitch_steps) + len(job_features.stretch_rates) if job_features.augment else 0)


def segments(data: DataSpec | FeaturesJob, cache: Path | None = None) -> int:
    """Segments of a corpus after augmentation: the built store's count when there is one, else the table."""
    corpus, feats = data.corpus, data.features
    if cache is not None:
        found = _store_segments(corpus, feats, cache)
        if found is not None:
            return found
    size = corpus_size(corpus)
    return max(1, round(size.files * versions(feats) * size.segments_per_version))


def _store_segments(corpus: CorpusSpec, feats: Any, cache: Path) -> int | None:
    """Rows of an existing store entry with this corpus and these settings (meta.parquet's footer only)."""
    import pyarrow.parquet as pq

    root = Path(cache) / "features"
    if not root.is_dir():
        return None
    want_corpus, want_feats = corpus.model_dump(mode="json"), feats.model_dump(mode="json")
    for entry in root.glob(f"{corpus.name}-*/settings.json"):
        try:
            s = json.loads(entry.read_text(encoding="utf-8"))
            if s.get("features") == want_feats and s.get("corpus") == want_corpus:
                return int(pq.ParquetFile(entry.with_name("meta.parquet")).metadata.num_rows)
        except (OSError, ValueError):
            continue
    return None


def split_sizes(n: int) -> tuple[int, int, int]:
    test = math.ceil(n * TEST_FRACTION)
    val = math.floor((n - test) * VAL_FRACTION)
    return n - test - val, val, test


# ---------------------------------------------------------------- per-job work


def hyperband_epochs(max_epochs: int, factor: int, iterations: int, max_trials: int | None) -> tuple[int, int]:
    """(trials, epochs trained) of keras-tuner's Hyperband schedule (its _get_size/_get_epochs, min_epochs 1).

    A trial continued into the next round trains only the extra epochs (keras-tuner's `tuner/initial_epoch`).
    """
    brackets, e = 0, float(max_epochs)
    while e >= 1:
        e, brackets = e / factor, brackets + 1
    end0 = math.ceil(1 + math.log(max_epochs, factor))
    trials = epochs = 0
    for _ in range(iterations):
        for b in reversed(range(brackets)):
            prev = 0
            for r in range(b + 1):
                size = math.ceil(end0 / (b + 1) * factor ** (b - r))
                ep = math.ceil(max_epochs / factor ** (b - r))
                if max_trials is not None:
                    size = max(0, min(size, max_trials - trials))
                trials += size
                epochs += size * (ep - prev)
                prev = ep
    return trials, epochs


def attack_evals(attack: str, params: dict[str, Any], n_classes: int, batch: int) -> list[tuple[str, float, int]]:
    """Model evaluations per attacked sample: (kind F|G, count, batch it runs at). Loop bounds x TYPICAL.

    F = forward pass, G = forward+backward of one sample; the formula is the attack class's `evals`
    (sercore.attack_params), missing parameters take their defaults. Every job also predicts the clean and the
    adversarial chunk (2 F) and ART predicts the labels to attack (1 F); those are added by the caller.
    """
    if attack not in PARAMS:
        raise ConfigError(f"no cost model for attack {attack!r} (expected one of {', '.join(PARAMS)})")
    return parse_params(attack, params).evals(n_classes, batch, TYPICAL.get(attack, 1.0))


def attack_samples(job: AttackJob, n_test: int) -> int:
    n = n_test if job.limit is None else min(n_test, job.limit)
    chunks = math.ceil(n / job.chunk_size)
    mine = len(range(chunks)[job.slice::job.slices]) if job.slices > 1 else chunks
    return min(n, mine * job.chunk_size)


@dataclass
class JobCost:
    """One job's predicted seconds: `fixed` paid per job/process, `work` its own compute, `shared` once per model."""

    stage: str
    fixed: float
    work: float
    model_key: str = ""  # jobs of one pack sharing this key load model and data once
    shared: float = 0.0
    exact: bool = True
    trace: float = 0.0  # tracing the compiled estimator: per job, or once per trace_key in a pack
    trace_key: str = ""  # the estimator whose traced functions a pack reuses (one per model)


def job_cost(job: Any, cal: Calibration, cache: Path | None) -> JobCost:
    """One job's predicted seconds, by the formula of its spec class."""
    formula = _FORMULAS.get(type(job))
    if formula is None:
        raise ConfigError(f"no cost model for {type(job).__name__}")
    return formula(job, cal, cache)


def _features_cost(job: FeaturesJob, cal: Calibration, cache: Path | None) -> JobCost:
    """A measured features job's fixed seconds and seconds per second of audio and version (or, in files before
    that, per file version), plus generating a synthetic corpus; an older file: extraction per file version only.
    Its `work` is in one-core seconds, as `estimate` divides it by the job's cores."""
    size = corpus_size(job.corpus)
    n = size.files * versions(job.features)
    if not cal.features_job_per_version_s:
        return JobCost("features", 0.0, n * cal.features_per_version_s, job.job_id)
    cores = int(cal.raw.get("cores") or 1)
    generate = size.files * cal.synthetic_per_file_s * (job.corpus.name == "synthetic" and not job.corpus.root)
    per_file = size.file_s * cal.features_job_per_audio_s or cal.features_job_per_version_s
    return JobCost("features", cal.features_job_s + generate, n * per_file * cores, job.job_id)


def uses_xla(settings: TrainSettings, n_train: int, cal: Calibration) -> bool:
    """Whether sercore.train.resolve_jit turns XLA on for this fit on the calibrated device (a CPU: from
    XLA_CPU_MIN_SAMPLE_PASSES sample passes; a GPU leaves it to Keras, which keeps it off for these models)."""
    if settings.deterministic or cal.device != "cpu":
        return False
    if isinstance(settings.jit_compile, bool):
        return settings.jit_compile
    return n_train * settings.epochs >= XLA_CPU_MIN_SAMPLE_PASSES


def _epoch_s(m: ModelCost, n: int, batch: int, xla: bool = False) -> float:
    """One training epoch over a corpus of n segments at a batch size: a training step per training sample, then
    Keras's validation pass (fit's validation_batch_size defaults to its batch_size), then the epoch's own
    overhead."""
    tr, va, _ = split_sizes(n)
    return tr * m.per_sample("X" if xla else "T", batch) + va * m.per_sample("F", batch) + m.epoch_s


def _train_cost(job: TrainJob, cal: Calibration, cache: Path | None) -> JobCost:
    m, exact = cal.model(job.model.arch, job.model.width)
    n = segments(job.data, cache)  # a built store's count is read from disk: once per job
    xla = uses_xla(job.train, split_sizes(n)[0], cal)
    work = job.train.epochs * _epoch_s(m, n, job.train.batch_size, xla)
    return JobCost("train", m.fit_fixed(xla), work, job.job_id, n * cal.data_per_segment_s, exact)


def _tune_cost(job: TuneJob, cal: Calibration, cache: Path | None) -> JobCost:
    """Hyperband's epochs; stage 2 draws each trial's batch size from job.batch_size: priced at their mean cost.
    Keras Tuner's trials compile with Keras's default jit_compile, XLA on a CPU. Each trial pays the measured
    per-trial cost (a file without it: a training job's fit overhead)."""
    m, exact = cal.model("m1" if job.stage == 1 else "final", job.model.width)
    trials, epochs = hyperband_epochs(job.max_epochs, job.factor, job.hyperband_iterations, job.max_trials)
    batches = (STAGE1_BATCH,) if job.stage == 1 else job.batch_size
    xla = cal.device == "cpu"
    n = segments(job.data, cache)
    epoch = sum(_epoch_s(m, n, b, xla) for b in batches) / len(batches)
    fits = trials * job.executions_per_trial
    fixed = m.tune_job_s + fits * m.trial_s if m.trial_s else fits * m.fit_fixed(xla)
    return JobCost("tune", fixed, epochs * job.executions_per_trial * epoch, job.job_id, n * cal.data_per_segment_s,
                   exact)


def _target_shared(job: Any, cal: Calibration, cache: Path | None) -> float:
    """Load the attacked model and its data: once per model in a pack."""
    return cal.model_load_s + segments(job.target.data, cache) * cal.data_per_segment_s


def _attack_cost(job: AttackJob, cal: Calibration, cache: Path | None) -> JobCost:
    n_test = split_sizes(segments(job.target.data, cache))[2]
    n = attack_samples(job, n_test)
    m, exact = cal.model(job.target.model.arch, job.target.model.width)
    n_classes = len(job.target.data.corpus.kept_emotions)
    batch = min(job.batch_size, job.chunk_size, max(n, 1))
    # ART's eps is one number for some attacks: with an SNR budget each sample is attacked alone
    alone = job.domain == "waveform" and job.snr_db is not None and job.params.scalar_eps
    # every job: clean, adversarial and ART's label prediction, plus the reliability columns (a second clean
    # prediction and one loss gradient: sercore.attack_job.model_checks)
    evals = [("F", 4.0, batch), ("G", 1.0, batch),
             *job.params.evals(n_classes, 1 if alone else batch, TYPICAL.get(job.attack, 1.0))]
    work = n * sum(c * m.per_sample(kind, b) for kind, c, b in evals)
    work += RESYNTH_S * 2 * min(n, job.resynth * math.ceil(n / job.chunk_size)) * (job.domain == "spectrogram")
    work += QUALITY_S * n * (job.domain == "waveform")
    # one estimator per model in a pack: its predict/gradient graphs are traced once for all its attacks
    own = m.attack_setup_s.get(job.attack, m.attack_job_s)
    return JobCost("attack", own, work, job.target.job_id, _target_shared(job, cal, cache), exact, m.trace_s,
                   job.target.job_id)


def _transfer_cost(job: TransferJob, cal: Calibration, cache: Path | None) -> JobCost:
    """Replay stored adversarial inputs: the clean and the adversarial input of every sample through the target,
    in eager calls of TRANSFER_BATCH samples (sercore.transfer_job); a file without the eager costs: compiled
    forward passes after tracing the attack estimator."""
    n_test = split_sizes(segments(job.target.data, cache))[2]
    m, exact = cal.model(job.target.model.arch, job.target.model.width)
    shared = _target_shared(job, cal, cache)
    if not m.eager_s:
        n = sum(attack_samples(a, n_test) for a in job.attacks)
        return JobCost("transfer", 0.0, 2 * n * m.per_sample("F", 256), job.target.job_id, shared, exact,
                       m.trace_s, job.target.job_id)
    calls = [min(TRANSFER_BATCH, n - i) for a in job.attacks if (n := attack_samples(a, n_test))
             for i in range(0, n, TRANSFER_BATCH)]
    work = 2 * sum(b * m.per_sample("E", b) for b in calls)
    return JobCost("transfer", 0.0, work, job.target.job_id, shared, exact, m.eager_trace_s, job.target.job_id)


# one formula per spec class of the stage table (runner.stages); a new stage adds its own here
_FORMULAS: dict[type, Callable[[Any, Calibration, Path | None], JobCost]] = {
    FeaturesJob: _features_cost, TuneJob: _tune_cost, TrainJob: _train_cost, AttackJob: _attack_cost,
    TransferJob: _transfer_cost,
}


# ---------------------------------------------------------------- stage totals


@dataclass
class StageEstimate:
    stage: str
    jobs: int
    worker_s: float  # sum of the tasks' times: what a cluster bills
    wall_s: float  # on min(N, array_parallelism) workers
    workers: int
    tasks: int
    extrapolated: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"jobs": self.jobs, "tasks": self.tasks, "workers": self.workers,
                "worker_hours": round(self.worker_s / 3600, 4), "wall_hours": round(self.wall_s / 3600, 4),
                "worker_s": round(self.worker_s, 1), "wall_s": round(self.wall_s, 1),
                "extrapolated_width": self.extrapolated}


def makespan(durations: Iterable[float], workers: int) -> float:
    """Longest-processing-time-first schedule on `workers` identical workers (what an array's throttle does)."""
    loads = [0.0] * max(1, workers)
    for d in sorted(durations, reverse=True):
        heapq.heapreplace(loads, loads[0] + d)
    return max(loads)


def task_times(costs: list[JobCost], cal: Calibration, executor: str, pack: int) -> list[float]:
    """Seconds per array task (slurm) or one process (local) for one stage's jobs.

    local: one process per stage pays startup once; each job loads its model and data (data kept for the next
    job of the same model) and traces. slurm: every task pays startup + slurm_task_s; a pack of k jobs pays them,
    and each distinct model's load, once, and traces each attack configuration once per pack.
    """
    if executor == "local":
        total, last = cal.startup_s, None
        for c in costs:
            reload = cal.model_load_s * (c.stage == "attack")
            total += c.fixed + c.trace + c.work + (c.shared if c.model_key != last else reload)
            last = c.model_key
        return [total]
    pack = max(1, pack)
    ordered = sorted(costs, key=lambda c: c.model_key)  # runner/pack.py groups jobs of one model the same way
    tasks = []
    for i in range(0, len(ordered), pack):
        group = ordered[i:i + pack]
        models = {c.model_key: c.shared for c in group}
        traces = {c.trace_key: c.trace for c in group}  # a pack keeps each estimator's traced functions
        tasks.append(cal.startup_s + cal.slurm_task_s + sum(models.values()) + sum(traces.values())
                     + sum(c.fixed + c.work for c in group))
    return tasks


def estimate(grid: Any, cal: Calibration, *, workers: int = 1, executor: str | None = None,
             cache: Path | None = None, only: Mapping[str, Collection[str]] | None = None) -> dict[str, StageEstimate]:
    """Per stage: jobs, tasks, worker-seconds and wall seconds on `workers` concurrent workers; with `only`
    ({stage: job ids}, e.g. the jobs not done yet) just those jobs."""
    executor = executor or grid.settings.executor
    out: dict[str, StageEstimate] = {}
    for stage in grid.stages:
        jobs = grid.jobs[stage] if only is None else [j for j in grid.jobs[stage] if j.id in only.get(stage, ())]
        costs = [job_cost(j.spec, cal, cache) for j in jobs]
        res = grid.resources(stage)
        if stage == "features":  # the store extracts files in parallel on the job's cores
            cores = min(res.cpus, int(cal.raw.get("cores") or res.cpus))
            for c in costs:
                c.work /= max(1, cores)
        pack = getattr(res, "pack", 1) if executor != "local" else 1
        tasks = task_times(costs, cal, executor, pack) if costs else []  # nothing left: no process starts
        n_workers = 1 if executor == "local" else min(workers, res.array_parallelism)
        out[stage] = StageEstimate(stage, len(costs), sum(tasks), makespan(tasks, n_workers), n_workers,
                                   len(tasks), not all(c.exact for c in costs))
    return out


def totals(est: dict[str, StageEstimate]) -> dict[str, float]:
    return {"worker_hours": round(sum(e.worker_s for e in est.values()) / 3600, 4),
            "wall_hours": round(sum(e.wall_s for e in est.values()) / 3600, 4),
            "jobs": sum(e.jobs for e in est.values())}


def hms(seconds: float) -> str:
    s = int(round(seconds))
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{(s % 3600) // 60:02d}m"
