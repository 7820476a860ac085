"""A tiny trained CNN-LSTM on separable synthetic "spectrograms", shared by the attack tests."""

from __future__ import annotations

import functools
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

SHAPE = (18, 12, 1)  # (time, mel, 1): small stand-in for (261, 128, 1)
CLASSES = ("anger", "neutral", "sadness")


def make_data(n_train: int = 240, n_test: int = 30, seed: int = 0, signal: float = 1.5) -> SimpleNamespace:
    """Three classes, each a different band of mel rows raised by `signal` over unit noise; genders alternate."""
    rng = np.random.default_rng(seed)

    def split(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = np.arange(n) % len(CLASSES)
        x = rng.normal(size=(n, *SHAPE)).astype(np.float32)
        for k in range(len(CLASSES)):
            x[y == k, :, 4 * k : 4 * k + 4, :] += signal
        return x, y.astype(np.int64)

    x_train, y_train = split(n_train)
    x_test, y_test = split(n_test)
    meta = pd.DataFrame({
        "path": [f"f{i:03d}.wav" for i in range(n_test)],
        "speaker": [f"s{i % 4}" for i in range(n_test)],
        "gender": ["female" if i % 4 < 2 else "male" for i in range(n_test)],
        "emotion": [CLASSES[k] for k in y_test],
        "segment": np.arange(n_test, dtype=np.int64) + 1000,  # store rows: not the test-set index
        "recording": [f"r{i // 2:03d}" for i in range(n_test)],
    })
    lo, hi = min(x_train.min(), x_test.min()), max(x_train.max(), x_test.max())
    return SimpleNamespace(
        classes=CLASSES, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test, meta_test=meta,
        clip_values=(float(np.floor(lo)), float(np.ceil(hi))),
    )


def make_model(data: SimpleNamespace, seed: int = 0, epochs: int = 15):
    """Conv (per time block) -> LSTM -> softmax, like the paper's family but a few hundred parameters."""
    import keras
    from keras import layers

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=SHAPE)
    x = layers.Reshape((3, 6, SHAPE[1], 1))(inputs)
    x = layers.TimeDistributed(layers.Conv2D(4, 3, activation="relu"))(x)
    x = layers.TimeDistributed(layers.MaxPooling2D(2))(x)
    x = layers.TimeDistributed(layers.Flatten())(x)
    x = layers.LSTM(8)(x)
    model = keras.Model(inputs, layers.Dense(len(CLASSES), activation="softmax")(x))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.fit(data.x_train, data.y_train, epochs=epochs, batch_size=32, verbose=0)
    return model


def target_job(**data_kw):
    from sercore.specs import CorpusSpec, DataSpec, TrainJob

    return TrainJob(data=DataSpec(corpus=CorpusSpec(name="synthetic"), **data_kw))


def save_upstream(model, data: SimpleNamespace, folder: Path) -> Path:
    """A train job's artefact folder as run_attack expects it."""
    from sercore import io

    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "model.keras")
    io.write_npz(folder / "scaler.npz", mean=np.zeros(0, np.float32), std=np.zeros(0, np.float32),
                 clip_min=np.float32(data.clip_values[0]), clip_max=np.float32(data.clip_values[1]),
                 classes=np.asarray(data.classes, dtype=str))
    return folder


@functools.lru_cache(maxsize=1)
def toy() -> tuple[SimpleNamespace, object]:
    """(data, trained model), trained once per test process."""
    # A weak signal and few epochs keep the softmax off saturation, so C&W's probability gradients do not vanish.
    data = make_data(signal=0.6)
    return data, make_model(data, epochs=8)


def logits_twin(model):
    """The same network with a linear head (ModelSpec.output == "logits"): its softmax is `model`'s output."""
    import keras
    from keras import layers

    head = model.layers[-1]
    dense = layers.Dense(head.units, name="classes")
    twin = keras.Model(model.inputs, dense(model.layers[-2].output))
    dense.set_weights(head.get_weights())
    return twin


@functools.lru_cache(maxsize=1)
def toy_logits() -> object:
    """toy()'s model with its softmax removed (shares the trained weights; no second training)."""
    return logits_twin(toy()[1])
