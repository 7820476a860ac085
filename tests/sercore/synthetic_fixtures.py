"""The synthetic corpus at the paper's real feature shape (261 x 128), and an untrained seeded model over it:
what the waveform and re-synthesis tests attack (tests/sercore/conftest.py builds it once per session)."""

from __future__ import annotations

from pathlib import Path

from sercore.specs import CorpusSpec, DataSpec, FeatureSettings, TrainJob

TARGET = TrainJob(data=DataSpec(corpus=CorpusSpec(name="synthetic", synthetic_per_class=1),
                                features=FeatureSettings(augment=False)))


def prepared_and_model(cache_dir: Path):
    """(paper-protocol data of TARGET, a small seeded softmax model over (261, 128, 1))."""
    import keras

    from sercore import data

    prep = data.prepare(TARGET.data, cache_dir)
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((261, 128, 1)), keras.layers.AveragePooling2D((29, 16)),
                              keras.layers.Flatten(), keras.layers.Dense(len(prep.classes)), keras.layers.Softmax()])
    return prep, model
