"""Frozen, validated job specifications: the contract between the grid (runner) and the science (sercore).

A job's id is the hash of its canonical JSON, so the same grid point always maps to the same shard name, on any
machine, whatever Slurm calls it. Every model rejects unknown keys. Defaults are the paper's values (from the
paper's own code, see docs/paper-settings.md); grids override them.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    ConfigDict,
    Field,
    SerializationInfo,
    SerializerFunctionWrapHandler,
    ValidationInfo,
    field_serializer,
    field_validator,
    model_serializer,
    model_validator,
)

from .attack_params import PARAMS, AttackParams, Params, params_model
from .errors import ConfigError
from .strict import StrictNumbers
from .vocab import ARCHS as ARCHS  # re-exported (sercore.train); the vocabularies' owner is sercore.vocab
from .vocab import (
    BUILTIN_CORPORA,
    CORPUS_NAME_PATTERN,
    LANGUAGE,
    PAPER_EMOTIONS,
    UNKNOWN_LANGUAGE,
    Arch,
    CorpusName,
    Emotion,
    Normalization,
    Protocol,
)

# The paper code's train_test_split(random_state=1938): the split of the models it attacked (Table 22).
PAPER_SPLIT_SEED = 1938


class Spec(StrictNumbers):
    """Base: frozen, no unknown keys, finite numbers and no booleans for them, hashable by canonical JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    # Fields added after run folders existed: left out of the JSON while they hold their default, so the canonical
    # JSON, and so the id, of every job that existed before them is unchanged (its shard stays valid).
    LATE_FIELDS: ClassVar[frozenset[str]] = frozenset()

    @model_serializer(mode="wrap")
    def _omit_late_defaults(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        data: dict[str, Any] = handler(self)
        for name in self.LATE_FIELDS:
            if getattr(self, name) == type(self).model_fields[name].default:
                data.pop(name, None)
        return self._trim(data)

    def _trim(self, data: dict[str, Any]) -> dict[str, Any]:
        """Subclass hook: more keys to leave out of the JSON (pydantic takes one model serializer per class: this)."""
        return data

    def canonical_json(self) -> str:
        return json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))

    @property
    def job_id(self) -> str:
        return hashlib.sha256(self.canonical_json().encode()).hexdigest()[:16]


class CorpusSpec(Spec):
    # A built-in corpus (sercore.vocab.BUILTIN_CORPORA) or any plain name given with a `manifest`.
    name: CorpusName
    # Folder holding the corpus in its own layout (or the folder a manifest's paths are relative to).
    # None only for `synthetic` (generated into the cache).
    root: str | None = None
    # Emotions kept, in the shared English vocabulary. None means the paper's five for a built-in corpus; for a
    # manifest corpus the grid fills in every emotion its manifest holds (sercore.datasets.manifest).
    emotions: tuple[str, ...] | None = None
    # Synthetic corpus only: utterances per (speaker, emotion). Must stay None for real corpora.
    synthetic_per_class: int | None = None
    # A CSV or JSONL table of the corpus' files (docs/bring-your-own.md), its label mapping (manifest label ->
    # shared emotion) and the corpus language. Left out of the canonical JSON when unset, so the built-in
    # corpora keep their job ids.
    manifest: str | None = None
    label_map: tuple[tuple[str, str], ...] | None = None
    language: str | None = None
    # Follow symlinks that leave the corpus root (sercore.datasets.base): off, such a file is listed and refused.
    follow_symlinks: bool = False
    LATE_FIELDS: ClassVar[frozenset[str]] = frozenset({"follow_symlinks"})

    @field_validator("name")
    @classmethod
    def _plain_name(cls, v: str) -> str:
        if not re.match(CORPUS_NAME_PATTERN, v):
            raise ValueError(f"corpus name must be a plain name: a lower-case letter, then up to 31 of a-z 0-9 _ - "
                             f"(got {v!r}; built-in: {', '.join(BUILTIN_CORPORA)})")
        return v

    @field_validator("emotions")
    @classmethod
    def _known_emotions(cls, v: tuple[str, ...] | None) -> tuple[str, ...] | None:
        if v is None:
            return v
        valid = [e.value for e in Emotion]
        bad = [e for e in v if e not in valid]
        if bad:
            raise ValueError(f"unknown emotion {bad[0]!r} (expected one of {', '.join(valid)})")
        if len(set(v)) < 2:
            raise ValueError(f"need at least 2 distinct emotions (got {list(v)})")
        return tuple(v)

    @field_validator("label_map", mode="before")
    @classmethod
    def _label_pairs(cls, v: Any) -> Any:
        """A mapping `{ANG: anger}` is stored as sorted pairs (hashable, one canonical order)."""
        if isinstance(v, dict):
            v = sorted((str(k), str(e)) for k, e in v.items())
        valid = [e.value for e in Emotion]
        for label, emotion in v or ():
            if emotion not in valid:
                raise ValueError(f"label_map: {label!r} maps to unknown emotion {emotion!r} "
                                 f"(expected one of {', '.join(valid)})")
        return v

    @model_validator(mode="after")
    def _root_rules(self) -> CorpusSpec:
        if self.name != "synthetic" and not self.root:
            raise ValueError(f"corpus {self.name!r} needs a root folder")
        if self.name != "synthetic" and self.synthetic_per_class is not None:
            raise ValueError("synthetic_per_class applies to the synthetic corpus only")
        if self.manifest is None and self.name not in BUILTIN_CORPORA:
            raise ValueError(f"corpus {self.name!r} is not built in ({', '.join(BUILTIN_CORPORA)}): give its files "
                             "as `manifest: FILE.csv|.jsonl` (docs/bring-your-own.md)")
        if self.manifest is None and (self.label_map is not None or self.language is not None):
            raise ValueError("label_map and language apply to manifest corpora only (give `manifest:`)")
        if self.manifest is not None and self.name == "synthetic":
            raise ValueError("the synthetic corpus is generated; a manifest corpus needs another name")
        return self

    def _trim(self, data: dict[str, Any]) -> dict[str, Any]:
        """Manifest keys stay out of the JSON while unset, so built-in corpora keep their ids."""
        return {k: v for k, v in data.items() if k not in MANIFEST_KEYS or v is not None}

    @property
    def kept_emotions(self) -> tuple[str, ...]:
        if self.emotions is not None:
            return self.emotions
        if self.name not in PAPER_EMOTIONS:
            raise ConfigError(f"corpus {self.name!r}: no emotions to keep given and none built in (list them under "
                              "`emotions:`)")
        return PAPER_EMOTIONS[self.name]

    @property
    def labels(self) -> dict[str, str]:
        """The label mapping as a dict (manifest label -> shared emotion)."""
        return dict(self.label_map or ())

    @property
    def language_code(self) -> str:
        """The corpus language: given, else the built-in corpus's, else 'und' (undetermined)."""
        if self.language:
            return self.language
        return LANGUAGE.get(self.name, UNKNOWN_LANGUAGE)


MANIFEST_KEYS = ("manifest", "label_map", "language")


class FeatureSettings(Spec):
    """Pre-processing, augmentation and log-Mel settings. Part of the feature-store cache key."""

    sample_rate: int = 16000
    trim_top_db: float = 30.0
    trim_frame_length: int = 512
    trim_hop_length: int = 64
    segment_s: float = 3.0
    # Paper code: int(0.9 s) == 0, so tail chunks of any length were kept (then tiled to 3 s).
    min_tail_s: float = 0.0
    augment: bool = True
    pitch_steps: tuple[float, ...] = (-3.0, -1.5, 1.5, 3.0)
    stretch_rates: tuple[float, ...] = (0.75, 0.9, 1.1, 1.25)
    n_fft: int = 368
    hop_length: int = 184
    n_mels: int = 128
    fmax: float = 8000.0
    db: Literal["paper", "standard"] = "paper"


class DataSpec(Spec):
    corpus: CorpusSpec
    features: FeatureSettings = FeatureSettings()
    # speaker: test speakers held out, as many male as female (sercore.splits.speaker_split)
    protocol: Protocol = "paper"
    normalization: Normalization = "original"
    standardize: bool = True
    # clean protocol only: keep each speaker on one side of the split.
    speaker_independent: bool = False
    # Varies initialisation, shuffling and the stochastic attacks; the split only through `split_seed`.
    seed: int = 0
    # Seed of the train/val/test split. None: the paper's 1938 under `paper` (its code's random_state, so the
    # test set is the one the paper attacked, up to file order); the training `seed` under `clean` (every seed
    # a fresh grouped split, so the spread over seeds includes the split's).
    split_seed: int | None = None
    # Leak-free protocols only: grouped K-fold (None: one 80/20 hold-out). `fold` is the test fold, 0..folds-1;
    # grids expand `folds: K` into K jobs (docs/data.md).
    folds: int | None = Field(None, ge=2)
    fold: int = Field(0, ge=0)
    # Leak-free protocols: validation holds every version of its recordings (True) or only the originals.
    val_augmented: bool = True

    @property
    def effective_split_seed(self) -> int:
        if self.split_seed is not None:
            return self.split_seed
        return PAPER_SPLIT_SEED if self.protocol == "paper" else self.seed

    @model_validator(mode="after")
    def _fold_rules(self) -> DataSpec:
        if self.folds is not None and self.protocol in ("paper", "speaker"):
            raise ValueError("folds: grouped k-fold applies to protocol 'clean' only "
                             f"(got protocol '{self.protocol}')")
        if self.fold >= (self.folds or 1):
            raise ValueError(f"fold {self.fold} out of range for folds={self.folds} "
                             f"(expected 0..{(self.folds or 1) - 1})")
        return self


BYO_MODEL_KEYS = ("factory", "params", "file", "trained", "file_sha256", "classes", "standardizes_inside",
                  "factory_sha256")


class ModelSpec(Spec):
    arch: Arch = "final"
    # Multiplier on conv filters and LSTM units; 1.0 is the paper's size. Small values for CPU demos/tests.
    width: float = Field(default=1.0, gt=0, le=4)
    # `final` only (paper Table 20, EmoDB values by default).
    dropout: float = Field(default=0.3, ge=0, lt=1)
    lstm_dropout: float = Field(default=0.2, ge=0, lt=1)
    lstm_units: int = Field(default=256, ge=1)
    # What the last Dense emits: `softmax` probabilities (the paper) or raw `logits` (no softmax: training uses
    # from_logits cross-entropy, attacks take gradients of the logits; docs/models.md).
    output: Literal["softmax", "logits"] = "softmax"
    # A user's model (docs/bring-your-own.md): `factory` "pkg.module:build" called as build(input_shape, n_classes,
    # **params), or a saved `file` (.keras), untrained or, with `trained: true`, attacked as it is. `file_sha256`
    # (`factory_sha256`: of the factory module's source file) is filled in at validation, so a changed file is a
    # new job. `classes`: a trained model's class order when no
    # `<file>.classes.json` lies beside it. `standardizes_inside`: the model takes unstandardised features.
    factory: str | None = None
    params: tuple[tuple[str, Any], ...] | None = None
    file: str | None = None
    trained: bool = False
    file_sha256: str | None = None
    classes: tuple[str, ...] | None = None
    standardizes_inside: bool = False
    factory_sha256: str | None = None
    # Every field after `output` stays out of the JSON while at its default: old ids hold.
    LATE_FIELDS: ClassVar[frozenset[str]] = frozenset({"output", *BYO_MODEL_KEYS})

    @model_validator(mode="before")
    @classmethod
    def _file_fields(cls, data: Any) -> Any:
        from .byo import fill_file_fields

        return fill_file_fields(data)

    @field_validator("params", mode="before")
    @classmethod
    def _param_pairs(cls, v: Any) -> Any:
        """A mapping `{units: 8}` is stored as sorted pairs (hashable, one canonical order); scalars only."""
        if isinstance(v, dict):
            bad = [k for k, x in v.items() if not isinstance(x, (str, int, float, bool)) and x is not None]
            if bad:
                raise ValueError(f"params.{bad[0]}: factory parameters are scalars (got {v[bad[0]]!r})")
            v = tuple(sorted((str(k), x) for k, x in v.items()))
        return v

    @field_validator("factory")
    @classmethod
    def _importable(cls, v: str | None) -> str | None:
        if v is not None:
            from .byo import resolve_factory

            resolve_factory(v)  # raises ValueError with one line naming the value
        return v

    @model_validator(mode="after")
    def _byo_rules(self) -> ModelSpec:
        from .byo import check_model_spec

        return check_model_spec(self)

    @property
    def byo(self) -> bool:
        """A user's model (factory or file) rather than one of the paper's architectures."""
        return self.factory is not None or self.file is not None

    @property
    def label(self) -> str:
        """How tables name the model: the paper's arch, or the user's factory or file name with its sha256 prefix."""
        from .byo import model_name

        if self.factory is not None:
            return model_name(self.factory, self.factory_sha256)
        if self.file is not None:
            name = model_name(re.split(r"[\\/]", self.file)[-1], self.file_sha256)
            return name + (" (trained)" if self.trained else "")
        return self.arch


class TrainSettings(Spec):
    epochs: int = Field(default=100, ge=1)  # paper text 50, paper code 100
    batch_size: int = Field(default=32, ge=1)
    learning_rate: float = Field(default=1e-3, gt=0)
    early_stopping_patience: int = 10
    reduce_lr_patience: int = 6
    reduce_lr_factor: float = 0.1
    # TF op determinism: bit-identical reruns at some speed cost.
    deterministic: bool = False
    # XLA: "auto" picks what benchmarks/train.py measured fastest on this device class.
    jit_compile: bool | Literal["auto"] = "auto"
    # What EarlyStopping (best weights restored) and ReduceLROnPlateau watch; the paper's code: val_loss.
    monitor: Literal["val_loss", "val_accuracy"] = "val_loss"


class FeaturesJob(Spec):
    kind: Literal["features"] = "features"
    corpus: CorpusSpec
    features: FeatureSettings = FeatureSettings()


class TrainJob(Spec):
    kind: Literal["train"] = "train"
    # norm: paper Table 1, arch: Table 2, final: Table 3 (the model that gets attacked).
    study: Literal["norm", "arch", "final"] = "final"
    data: DataSpec
    model: ModelSpec = ModelSpec()
    train: TrainSettings = TrainSettings()


    @model_validator(mode="after")
    def _standardiser(self) -> TrainJob:
        if self.model.standardizes_inside and self.data.standardize:
            raise ValueError("model.standardizes_inside: the model standardises its inputs itself, so the protocol's "
                             "standardiser must be off (set standardize: false)")
        return self


class TuneJob(Spec):
    kind: Literal["tune"] = "tune"
    # 1: LSTM units (paper Table 18); 2: dropout, LSTM dropout, learning rate, batch size (Table 20).
    stage: Literal[1, 2]
    data: DataSpec
    model: ModelSpec = ModelSpec()
    objective: str = "val_loss"
    max_epochs: int = Field(120, ge=1)
    factor: int = Field(15, ge=2)
    hyperband_iterations: int = Field(3, ge=1)
    executions_per_trial: int = Field(3, ge=1)
    # Hard cap on trials (None = as many as Hyperband schedules); tiny values for tests.
    max_trials: int | None = None
    lstm_units: tuple[int, ...] = (4, 8, 16, 32, 64, 128, 256, 512, 1024)
    dropout: tuple[float, ...] = (0.0, 0.3, 0.6)
    lstm_dropout: tuple[float, ...] = (0.0, 0.2, 0.4)
    learning_rate: tuple[float, ...] = (1e-2, 1e-3, 1e-4)
    batch_size: tuple[int, ...] = (8, 16, 32, 64, 128)

    @model_validator(mode="after")
    def _softmax_only(self) -> TuneJob:
        if self.model.byo:
            raise ValueError("model: tuning searches the paper's architecture; your own model (factory or file) is "
                             "trained by stages.train")
        if self.model.output != "softmax":
            raise ValueError(f"model.output: tuning supports the paper's softmax head only (got {self.model.output!r})")
        return self


# Attacks that also run on the waveform: declared by each attack class (`waveform`).
WAVEFORM_ATTACKS = tuple(name for name, model in PARAMS.items() if model.waveform)


class AttackJob(Spec):
    kind: Literal["attack"] = "attack"
    # The training job whose model is attacked; its artefact folder is handed over as JobEnv.upstream.
    target: TrainJob
    attack: str  # registry name, one per class of sercore.attack_params.ATTACK_CLASSES
    # ART constructor arguments in ART's own names: the attack's parameter model (sercore.attack_params),
    # built from a mapping here, once; the canonical JSON holds the parameters as given (ids of old runs hold).
    params: AttackParams = Field(default_factory=dict, validate_default=True)
    labels: Literal["predicted", "true"] = "predicted"  # paper: predicted (no y passed to generate)
    estimator: Literal["compiled", "stock"] = "compiled"
    slices: int = Field(default=1, ge=1)
    slice: int = Field(default=0, ge=0)
    limit: int | None = Field(None, ge=1)  # attack only the first `limit` test samples (before slicing)
    chunk_size: int = Field(default=64, ge=1)  # samples per persisted chunk (resume granularity)
    batch_size: int = Field(default=256, ge=1)  # paper: 256
    examples: int = Field(default=2, ge=0)  # (clean, adversarial) pairs saved for the report
    # What the attack perturbs: the standardised log-Mel (the paper) or the 3-s waveform behind the differentiable
    # front end (sercore.frontend, sercore.waveform_attack). snr_db (waveform only): the budget as the segment's
    # signal-to-noise ratio in dB, per sample; None: the parameters' own eps, in sample units.
    domain: Literal["spectrogram", "waveform"] = "spectrogram"
    snr_db: float | None = Field(None, gt=-20, lt=120)
    # Spectrogram domain: the first `resynth` samples of each chunk are also judged as sound (sercore.resynthesis:
    # Griffin-Lim and the paper's features again, clean and adversarial); 0: off. Waveform jobs ignore it.
    resynth: int = Field(default=0, ge=0)
    # A failure check rather than a robustness number (runner.reduce.attack_checks): `unbounded`, a gradient attack
    # with a budget no input range limits, which must leave (almost) nothing correct. Its rows stay out of every
    # robustness table; the grid adds one per model (`stages.attack.checks`).
    check: Literal["unbounded"] | None = None
    LATE_FIELDS: ClassVar[frozenset[str]] = frozenset({"domain", "snr_db", "resynth", "check"})

    @field_validator("attack")
    @classmethod
    def _known_attack(cls, v: str) -> str:
        try:
            params_model(v)
        except ConfigError as exc:  # pydantic reports a ValueError under the key `attack`
            raise ValueError(str(exc)) from exc
        return v

    @field_validator("params", mode="before")
    @classmethod
    def _attack_params(cls, v: Any, info: ValidationInfo) -> Any:
        """A mapping becomes the named attack's model; a model must be that attack's."""
        attack = info.data.get("attack")
        if attack is None:  # the attack name was invalid and is reported under `attack`; a stand-in model
            return next(iter(PARAMS.values()))()  # keeps the union from reporting it a second time
        model = params_model(attack)
        if isinstance(v, Params) and not isinstance(v, model):
            raise ValueError(f"parameters of {v.attack!r} given for attack {attack!r}")
        return v if isinstance(v, Params) else model.model_validate(v)

    @field_serializer("params")
    def _given_params(self, params: Params, info: SerializationInfo) -> dict[str, Any]:
        return params.model_dump(mode=info.mode, exclude_unset=True)

    @model_validator(mode="after")
    def _slice_in_range(self) -> AttackJob:
        if self.slice >= self.slices:
            raise ValueError(f"slice {self.slice} out of range for slices={self.slices}")
        if self.snr_db is not None and self.domain != "waveform":
            raise ValueError("snr_db is a waveform budget: it needs domain waveform")
        if self.check is not None and self.domain != "spectrogram":
            raise ValueError(f"check {self.check!r} runs on the spectrogram only (got domain {self.domain!r})")
        if self.domain == "waveform" and self.attack not in WAVEFORM_ATTACKS:
            raise ValueError(f"attack {self.attack!r} has no waveform version (expected one of "
                             f"{', '.join(WAVEFORM_ATTACKS)})")
        return self


# Normalisations whose scale is fitted per split (norm_max_global divides by the fitting set's maximum) cannot be
# carried from one model to another: their inputs are not comparable, so transfer excludes them.
TRANSFERABLE_NORMALIZATIONS: tuple[Normalization, ...] = ("original", "norm_sum", "norm_max_local")


class TransferJob(Spec):
    """Replay the adversarial inputs of `attacks` (all crafted on one source model) on the `target` model."""

    kind: Literal["transfer"] = "transfer"
    attacks: tuple[AttackJob, ...] = Field(min_length=1)
    target: TrainJob

    @property
    def source(self) -> TrainJob:
        return self.attacks[0].target

    @model_validator(mode="after")
    def _same_pipeline(self) -> TransferJob:
        src, tgt = self.source.data, self.target.data
        if any(a.target != self.source for a in self.attacks):
            raise ValueError("every attack of a transfer job must target the same source model")
        if (src.corpus, src.features, src.normalization) != (tgt.corpus, tgt.features, tgt.normalization):
            raise ValueError("source and target need the same corpus, features and normalisation")
        if src.normalization not in TRANSFERABLE_NORMALIZATIONS:
            raise ValueError(f"normalisation {src.normalization!r} cannot be transferred (its scale is fitted per "
                             f"split; expected one of {', '.join(TRANSFERABLE_NORMALIZATIONS)})")
        return self


JobSpec = Annotated[FeaturesJob | TrainJob | TuneJob | AttackJob | TransferJob, Field(discriminator="kind")]


def job_from_dict(data: dict[str, Any]) -> FeaturesJob | TrainJob | TuneJob | AttackJob | TransferJob:
    """Rebuild a job spec from its JSON form (the run plan stores specs this way)."""
    from pydantic import TypeAdapter

    return TypeAdapter(JobSpec).validate_python(data)
