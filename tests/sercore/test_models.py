"""Architectures: the paper's parameter counts, the width knob, save/reload, bad configs."""

from __future__ import annotations

import json

import numpy as np
import pytest

from sercore.errors import ConfigError
from sercore.models import ARCHITECTURES, PAPER_TUNED, build_model, parameter_counts
from sercore.specs import ModelSpec

# Paper Tables 11-17 and the final model's summary (5 classes). M1 and M2 follow their layer lists
# (the printed totals 63,383 and 63,775 are arithmetic slips; see sercore/models.py).
PAPER_COUNTS = {
    "m0": 43_652,
    "m1": 63_683,
    "m2": 63_755,
    "m3": 64_900,
    "m4": 106_763,
    "m5": 133_316,
    "m6": 184_068,
    "final": 3_960_389,
}


def test_parameter_counts_match_paper() -> None:
    assert parameter_counts(5) == PAPER_COUNTS


def test_final_model_shapes_and_non_trainable() -> None:
    model = build_model(ModelSpec(arch="final"), 5)
    # 9 time blocks of a 1,664-wide flatten, as the paper's summary; BatchNorm statistics are not trained.
    assert tuple(model.get_layer("flatten").output.shape) == (None, 9, 1664)
    assert sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) == 32
    assert model.output_shape == (None, 5)


def test_m6_output_shapes() -> None:
    model = build_model(ModelSpec(arch="m6"), 5)
    assert tuple(model.get_layer("pool4").output.shape) == (None, 9, 1, 51, 128)


def test_width_keeps_topology_and_shrinks() -> None:
    small = build_model(ModelSpec(arch="final", width=0.125), 3)
    full_layers = [layer.name for layer in build_model(ModelSpec(arch="final"), 3).layers]
    assert [layer.name for layer in small.layers] == full_layers
    assert small.count_params() < 3_960_389 / 20
    assert small.output_shape == (None, 3)


def test_lstm_units_override_and_spec_dropouts() -> None:
    model = build_model(ModelSpec(arch="final", dropout=0.6, lstm_dropout=0.0), 5, lstm_units=8)
    assert model.get_layer("dropout").rate == 0.6
    assert model.get_layer("bilstm").forward_layer.units == 8
    assert model.get_layer("bilstm").forward_layer.dropout == 0.0


def test_save_reload_predicts_the_same(tmp_path) -> None:
    import keras

    model = build_model(ModelSpec(arch="final", width=0.125), 5)
    x = np.random.default_rng(0).normal(size=(4, 261, 128, 1)).astype("float32")
    path = tmp_path / "model.keras"
    model.save(path)
    again = keras.models.load_model(path)
    np.testing.assert_allclose(again.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


def test_bad_configs_name_the_field() -> None:
    with pytest.raises(ConfigError, match="n_classes"):
        build_model(ModelSpec(arch="m0"), 1)
    with pytest.raises(ConfigError, match="model.arch"):
        build_model(ModelSpec.model_construct(arch="m9", width=1.0), 5)


def test_paper_tuned_values() -> None:
    assert set(ARCHITECTURES) == set(PAPER_COUNTS)
    assert (PAPER_TUNED["emovo"].learning_rate, PAPER_TUNED["emovo"].batch_size) == (1e-4, 8)
    assert (PAPER_TUNED["ravdess"].dropout, PAPER_TUNED["ravdess"].batch_size) == (0.6, 128)


def test_cli_json(capsys) -> None:
    import argparse

    from sercore.cli import models

    parser = argparse.ArgumentParser()
    models.register_cli(parser.add_subparsers())
    args = parser.parse_args(["models", "--json"])
    assert args.func(args) == 0
    assert json.loads(capsys.readouterr().out) == PAPER_COUNTS


@pytest.mark.parametrize("arch", list(PAPER_COUNTS))
def test_every_arch_runs_at_small_width(arch: str) -> None:
    model = build_model(ModelSpec(arch=arch, width=0.25), 4)
    x = np.random.default_rng(1).normal(size=(2, 261, 128, 1)).astype("float32")
    proba = model.predict(x, verbose=0)
    assert proba.shape == (2, 4)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


def test_logits_head_is_linear_and_its_softmax_is_a_distribution(tmp_path) -> None:
    import keras

    from sercore.models import head_output, probabilities

    spec = ModelSpec(arch="m0", width=0.25)
    logits = build_model(spec.model_copy(update={"output": "logits"}), 5)
    assert logits.get_layer("classes").activation.__name__ == "linear"
    assert head_output(logits) == "logits" and head_output(build_model(spec, 5)) == "softmax"
    x = np.random.default_rng(0).normal(size=(3, 261, 128, 1)).astype("float32")
    z = logits.predict(x, verbose=0)
    assert not np.allclose(z.sum(axis=1), 1.0)  # raw logits, not probabilities
    p = probabilities(z, "logits")
    np.testing.assert_allclose(p.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(p, keras.ops.convert_to_numpy(keras.ops.softmax(z)), rtol=1e-5, atol=1e-7)
    assert (p.argmax(axis=1) == z.argmax(axis=1)).all()
    assert probabilities(p, "softmax") is p  # softmax outputs pass through untouched
    logits.save(tmp_path / "m.keras")
    assert head_output(keras.models.load_model(tmp_path / "m.keras", compile=False)) == "logits"
