"""The paper's CNN-LSTM family: M0..M6 (paper Tables 11-17) and the final tuned model.

Every model reads a (261, 128, 1) log-Mel segment, cuts it into 9 time blocks of 29 frames, runs the same small
CNN on each block (TimeDistributed layers, one per Keras layer: ART's KerasClassifier breaks on nested models,
ART #2706), flattens each block and feeds the 9 vectors to an LSTM, then a softmax Dense (the paper), or under
`ModelSpec.output == "logits"` a linear Dense whose raw logits training and the attacks use (`probabilities` turns
them into what the tables store).

Parameter counts for 5 classes (asserted in tests/sercore/test_models.py):
m0 43,652; m1 63,683; m2 63,755; m3 64,900; m4 106,763; m5 133,316; m6 184,068; final 3,960,389.
The paper prints 63,383 for M1 and 63,775 for M2, but the layer lists of its own Tables 12-13 add up to 63,683
and 63,755 (BiLSTM 3 = 2 x 20,016; LSTM 6 = 40,104, both over the 1,664-wide flatten); we follow the layers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np

from .byo import factory_sha256, file_classes, file_sha256, resolve_factory
from .errors import ConfigError, JobError
from .specs import ModelSpec
from .vocab import ARCHS, MODEL_INPUT_SHAPE

if TYPE_CHECKING:
    import keras

INPUT_SHAPE = MODEL_INPUT_SHAPE
TIME_BLOCKS = 9  # 261 frames = 9 blocks x 29 frames, row-major over time (paper code)


@dataclass(frozen=True)
class ConvBlock:
    """Conv2D (valid, relu), optional BatchNorm, then MaxPool."""

    filters: int
    kernel: int
    pool: int
    stride: int
    batch_norm: bool = False


@dataclass(frozen=True)
class Architecture:
    """The topology of one paper model; `width` scales filters and LSTM units without changing it."""

    blocks: tuple[ConvBlock, ...]
    lstm_units: int
    bidirectional: bool
    lstm_dropout: float = 0.2
    dropout: float | None = None  # Dropout after the flatten (final model only)


_M0_BLOCKS = (
    ConvBlock(16, 5, 4, 2, batch_norm=True),
    ConvBlock(32, 3, 2, 2),
    ConvBlock(64, 3, 2, 1),
)

ARCHITECTURES: dict[str, Architecture] = {
    "m0": Architecture(_M0_BLOCKS, 3, bidirectional=False),
    "m1": Architecture(_M0_BLOCKS, 3, bidirectional=True),
    "m2": Architecture(_M0_BLOCKS, 6, bidirectional=False),
    "m3": Architecture(
        (ConvBlock(16, 3, 2, 2, batch_norm=True), ConvBlock(32, 3, 2, 2), ConvBlock(64, 3, 2, 1)),
        3,
        bidirectional=False,
    ),
    "m4": Architecture(
        (ConvBlock(16, 5, 2, 2, batch_norm=True), ConvBlock(32, 3, 2, 2), ConvBlock(64, 3, 2, 1)),
        6,
        bidirectional=False,
    ),
    "m5": Architecture(
        (ConvBlock(32, 5, 4, 2, batch_norm=True), ConvBlock(64, 3, 2, 2), ConvBlock(128, 3, 2, 1)),
        3,
        bidirectional=False,
    ),
    # Table 17 lists the second kernel as 3x3 in its size column, but its output shapes (and the 184,068 total)
    # only work out with 5x5. Only the first pool has stride 2.
    "m6": Architecture(
        (
            ConvBlock(16, 5, 2, 2, batch_norm=True),
            ConvBlock(32, 5, 2, 1),
            ConvBlock(64, 3, 2, 1),
            ConvBlock(128, 3, 2, 1),
        ),
        3,
        bidirectional=False,
    ),
    # M1's CNN + Dropout + BiLSTM 256 (paper code attacks.ipynb); dropouts come from the ModelSpec.
    "final": Architecture(_M0_BLOCKS, 256, bidirectional=True, dropout=0.3),
}
assert set(ARCHITECTURES) == set(ARCHS)


@dataclass(frozen=True)
class Tuned:
    """One dataset's Hyperband result (paper Table 20), used for the final model."""

    dropout: float
    lstm_dropout: float
    learning_rate: float
    batch_size: int


# Paper Table 20 (paper code param.p). The single place grids, runner and CLI read these from.
PAPER_TUNED: dict[str, Tuned] = {
    "emodb": Tuned(dropout=0.3, lstm_dropout=0.2, learning_rate=1e-3, batch_size=32),
    "emovo": Tuned(dropout=0.3, lstm_dropout=0.0, learning_rate=1e-4, batch_size=8),
    "ravdess": Tuned(dropout=0.6, lstm_dropout=0.2, learning_rate=1e-3, batch_size=128),
    # The synthetic corpus mirrors EmoDB.
    "synthetic": Tuned(dropout=0.3, lstm_dropout=0.2, learning_rate=1e-3, batch_size=32),
}


def architecture(spec: ModelSpec) -> Architecture:
    """The topology a spec asks for; for `final` the spec's dropouts and LSTM units apply."""
    if spec.arch not in ARCHITECTURES:
        raise ConfigError(f"model.arch: unknown architecture {spec.arch!r} (expected one of {', '.join(ARCHS)})")
    arch = ARCHITECTURES[spec.arch]
    if spec.arch == "final":
        arch = replace(arch, lstm_units=spec.lstm_units, dropout=spec.dropout, lstm_dropout=spec.lstm_dropout)
    return arch


def _scaled(n: int, width: float) -> int:
    return max(1, int(round(n * width)))


def build_model(spec: ModelSpec, n_classes: int, *, lstm_units: int | None = None) -> keras.Model:
    """Uncompiled Keras model for `spec`; `lstm_units` overrides the LSTM width (Hyperband stage 1)."""
    import keras
    from keras import layers

    if n_classes < 2:
        raise ConfigError(f"n_classes: a classifier needs at least 2 classes (got {n_classes})")
    arch = architecture(spec)
    units = _scaled(lstm_units if lstm_units is not None else arch.lstm_units, spec.width)
    td = layers.TimeDistributed
    inputs = keras.Input(shape=INPUT_SHAPE, name="logmel")
    x = layers.Reshape((TIME_BLOCKS, INPUT_SHAPE[0] // TIME_BLOCKS, INPUT_SHAPE[1], 1), name="blocks")(inputs)
    for i, block in enumerate(arch.blocks, start=1):
        conv = layers.Conv2D(_scaled(block.filters, spec.width), block.kernel, activation="relu")
        x = td(conv, name=f"conv{i}")(x)
        if block.batch_norm:
            x = td(layers.BatchNormalization(), name=f"bn{i}")(x)
        x = td(layers.MaxPooling2D(block.pool, strides=block.stride), name=f"pool{i}")(x)
    x = td(layers.Flatten(), name="flatten")(x)
    if arch.dropout is not None:
        x = layers.Dropout(arch.dropout, name="dropout")(x)
    lstm = layers.LSTM(units, dropout=arch.lstm_dropout, name="lstm")
    x = layers.Bidirectional(lstm, name="bilstm")(x) if arch.bidirectional else lstm(x)
    head = "softmax" if spec.output == "softmax" else None  # None: linear, the logits
    outputs = layers.Dense(n_classes, activation=head, name="classes")(x)
    return keras.Model(inputs, outputs, name=spec.arch)


def head_output(model: keras.Model) -> Literal["softmax", "logits"] | None:
    """What a (loaded) model emits, read off its last layer: softmax, logits (a linear activation), or None when
    the last layer has some other or no activation (a wrapped or hand-made model: nothing to check)."""
    name = getattr(getattr(model.layers[-1], "activation", None), "__name__", None)
    if name == "softmax":
        return "softmax"
    return "logits" if name == "linear" else None


def probabilities(out: np.ndarray, output: str) -> np.ndarray:
    """Class probabilities from a model's outputs: softmax outputs as they are, logits through a stable softmax."""
    out = np.asarray(out)
    if output == "softmax":
        return out
    z = out.astype(np.float64) - out.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return (e / e.sum(axis=-1, keepdims=True)).astype(out.dtype)


def parameter_counts(n_classes: int = 5, width: float = 1.0) -> dict[str, int]:
    """Total parameters (trainable + BatchNorm statistics) of every architecture, as the paper's tables count."""
    return {arch: build_model(ModelSpec(arch=arch, width=width), n_classes).count_params() for arch in ARCHS}


# ---------------------------------------------------------------- a user's own model (sercore.byo)


def check_built(model: keras.Model, spec: ModelSpec, where: str, n_classes: int) -> None:
    """A built or loaded user model must take the features' shape, emit one output per class and emit what
    `output` says."""
    shape = tuple(model.input_shape[1:])
    if shape != INPUT_SHAPE:
        raise ConfigError(f"{where}: input shape {shape} does not match the features' {INPUT_SHAPE}")
    if model.output_shape[-1] != n_classes:
        raise ConfigError(f"{where}: {model.output_shape[-1]} outputs for {n_classes} classes")
    head = head_output(model)
    if head is not None and head != spec.output:
        raise ConfigError(f"{where}: the model's last layer emits {head} but model.output is {spec.output!r} "
                          f"(set model.output: {head})")


def user_model(spec: ModelSpec, n_classes: int) -> keras.Model:
    """The untrained user model: the factory's, or the file's architecture freshly initialised (clone_model)."""
    import keras

    if spec.factory is not None:
        if spec.factory_sha256 is not None and factory_sha256(spec.factory) != spec.factory_sha256:
            raise JobError(f"model.factory {spec.factory!r}: its module changed since the grid was validated (sha256 "
                           "differs): submit the grid again, so the new code gets its own job")
        model = resolve_factory(spec.factory)(INPUT_SHAPE, n_classes, **dict(spec.params or ()))
        if not isinstance(model, keras.Model):
            raise ConfigError(f"model.factory {spec.factory!r}: returned {type(model).__name__}, not a keras.Model")
        check_built(model, spec, f"model.factory {spec.factory!r}", n_classes)
        return model
    model = load_file(spec)
    check_built(model, spec, f"model.file {spec.file!r}", n_classes)
    return keras.models.clone_model(model)


def load_file(spec: ModelSpec) -> keras.Model:
    """The user's .keras file, after checking it is the one the job id was computed from."""
    import keras

    assert spec.file is not None
    path = Path(spec.file)
    if not path.is_file():
        raise JobError(f"model.file {spec.file!r}: no such file on this machine")
    if spec.file_sha256 is not None and file_sha256(path) != spec.file_sha256:
        raise JobError(f"model.file {spec.file!r}: changed since the grid was validated (sha256 differs): "
                       "submit the grid again, so the new file gets its own job")
    try:
        return keras.models.load_model(path, compile=False)
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"model.file {spec.file!r}: does not load ({type(exc).__name__}: {str(exc)[:160]})") from exc


def check_classes(spec: ModelSpec, classes: tuple[str, ...]) -> None:
    """A trained model's class order must be the corpus' label order."""
    mine = file_classes(spec)
    if mine is not None and tuple(mine) != tuple(classes):
        raise ConfigError(f"model.file {spec.file!r}: its class order {list(mine)} differs from the corpus' "
                          f"{list(classes)}")
