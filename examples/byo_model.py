"""A user's model for sertack, given to a grid as `model: {factory: "examples.byo_model:build"}`.

sertack calls `build(input_shape, n_classes, **params)` with the log-Mel input shape (261, 128, 1) and the number
of emotions kept, and trains (or attacks) what it returns. Set `output: logits` in the grid when the last layer
has no softmax. Tiny on purpose: the test suite trains it.
"""

from __future__ import annotations

from typing import Any


def build(input_shape: tuple[int, ...], n_classes: int, units: int = 8, logits: bool = False) -> Any:
    """Pool the spectrogram, one small Dense layer, then the class head (softmax, or logits when asked)."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, name="logmel")
    x = layers.AveragePooling2D(pool_size=(9, 8), name="pool")(inputs)
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(units, activation="relu", name="hidden")(x)
    outputs = layers.Dense(n_classes, activation=None if logits else "softmax", name="classes")(x)
    return keras.Model(inputs, outputs, name="byo_example")
