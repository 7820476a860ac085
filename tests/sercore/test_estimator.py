"""The compiled estimator against stock ART: same predictions, gradients and attack results."""

from __future__ import annotations

import numpy as np
import pytest

from sercore.estimator import CompiledTensorFlowV2Classifier, make_classifier, pieces
from tests.sercore.attack_fixtures import toy, toy_logits

# float32 through differently fused graphs: relative to the largest entry of each result.
RTOL = 1e-4


def close(a: np.ndarray, b: np.ndarray) -> bool:
    return a.shape == b.shape and float(np.max(np.abs(a - b))) <= RTOL * max(float(np.max(np.abs(a))), 1e-12)


def test_pieces_cover_input_with_few_padded_shapes() -> None:
    assert list(pieces(600, 256)) == [(0, 256, 256), (256, 512, 256), (512, 600, 96)]
    assert list(pieces(390, 512)) == [(0, 390, 416)]
    assert list(pieces(1, 256)) == [(0, 1, 1)]
    assert list(pieces(10, 256)) == [(0, 10, 16)]
    assert list(pieces(0, 256)) == []


@pytest.fixture(scope="module")
def pair():
    data, model = toy()
    stock = make_classifier(model, 3, data.clip_values, compiled=False)
    ours = make_classifier(model, 3, data.clip_values, compiled=True, max_batch=8, jit_compile=False)
    assert isinstance(ours, CompiledTensorFlowV2Classifier)
    return data, stock, ours


def test_predictions_and_gradients_match_stock(pair) -> None:
    data, stock, ours = pair
    x = data.x_test[:13]  # two pieces, the second padded from 5 to 8
    y = np.eye(3, dtype=np.float32)[data.y_test[:13]]
    assert close(stock.predict(x), ours.predict(x))
    assert close(stock.loss_gradient(x, y), ours.loss_gradient(x, y))
    assert close(stock.class_gradient(x), ours.class_gradient(x))
    assert close(stock.class_gradient(x, label=1), ours.class_gradient(x, label=1))
    labels = np.array([0, 1, 2, 2, 1, 0, 0, 1, 2, 0, 1, 2, 2])
    assert close(stock.class_gradient(x, label=labels), ours.class_gradient(x, label=labels))
    assert close(stock.class_gradient(x, label=list(labels)), ours.class_gradient(x, label=list(labels)))


def test_loss_gradient_keeps_tensors_as_tensors(pair) -> None:
    import tensorflow as tf

    data, stock, ours = pair
    x, y = tf.constant(data.x_test[:4]), tf.constant(np.eye(3, dtype=np.float32)[data.y_test[:4]])
    g = ours.loss_gradient(x, y)
    assert isinstance(g, tf.Tensor)
    assert close(stock.loss_gradient(x, y).numpy(), g.numpy())


@pytest.mark.parametrize(
    ("name", "params"), [("fgsm", {"eps": 0.75}), ("bim", {"eps": 0.75, "max_iter": 10}), ("deepfool", {"max_iter": 5})]
)
def test_gradient_attacks_give_the_same_accuracy(pair, name: str, params: dict) -> None:
    from sercore.attack_params import parse_params
    from sercore.attacks import ATTACKS

    data, stock, ours = pair
    x, y = data.x_test, data.y_test
    p = parse_params(name, params)
    adv_stock = ATTACKS[name].build(stock, p, 8).generate(x)
    adv_ours = ATTACKS[name].build(ours, p, 8).generate(x)
    acc_stock = float(np.mean(stock.predict(adv_stock).argmax(1) == y))
    acc_ours = float(np.mean(stock.predict(adv_ours).argmax(1) == y))
    assert acc_ours == acc_stock
    assert acc_ours < float(np.mean(stock.predict(x).argmax(1) == y))  # the attack did something
    # DeepFool divides by |w|^2 at every step, so float32 rounding differences between the compiled and the eager
    # gradients grow over its iterations: 1.13e-3 measured on one machine (inputs clipped to a range of 10).
    tolerance = 5e-3 if name == "deepfool" else 1e-3
    assert np.max(np.abs(adv_stock - adv_ours)) < tolerance


def test_paper_architecture_gradients_match_stock() -> None:
    """The real model family (TimeDistributed CNN, BatchNorm, BiLSTM) at a small width, full input shape."""
    from sercore.models import build_model
    from sercore.specs import ModelSpec

    model = build_model(ModelSpec(arch="final", width=0.125), 5)
    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, 261, 128, 1)).astype(np.float32)
    y = np.eye(5, dtype=np.float32)[[0, 3, 4]]
    stock = make_classifier(model, 5, (-5, 7), compiled=False)
    ours = make_classifier(model, 5, (-5, 7), compiled=True, jit_compile=False)
    assert close(stock.predict(x), ours.predict(x))
    assert close(stock.loss_gradient(x, y), ours.loss_gradient(x, y))
    assert close(stock.class_gradient(x, label=np.array([1, 2, 0])), ours.class_gradient(x, label=np.array([1, 2, 0])))


@pytest.mark.parametrize("compiled", [True, False])
def test_logits_estimator_takes_gradients_of_the_logits(compiled: bool) -> None:
    """Under output: logits, loss_gradient is the tape gradient of from_logits cross-entropy (mean over the batch),
    class_gradient that of one logit, and predict the logits (no softmax anywhere)."""
    import tensorflow as tf

    data, _ = toy()
    model = toy_logits()
    est = make_classifier(model, 3, data.clip_values, compiled=compiled, max_batch=8, jit_compile=False,
                          from_logits=True)
    x, labels = data.x_test[:11], data.y_test[:11]
    xt = tf.constant(x)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(xt)
        z = model(xt, training=False)
        ce = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, z))
        logit = tf.reduce_sum(z[:, 2])
    assert close(tape.gradient(ce, xt).numpy(), est.loss_gradient(x, np.eye(3, dtype=np.float32)[labels]))
    assert close(tape.gradient(logit, xt).numpy(), est.class_gradient(x, label=2)[:, 0])
    assert close(z.numpy(), est.predict(x))


def test_saturated_softmax_hides_class_gradients_that_logits_keep() -> None:
    """Why the logits mode exists: scale the toy's head x40 (every p_true rounds to 1) and DeepFool/C&W/JSMA's
    class gradients vanish through the softmax but not through the logits."""
    import keras

    from tests.sercore.attack_fixtures import logits_twin

    data, model = toy()
    hot = keras.models.clone_model(model)
    hot.set_weights(model.get_weights())
    w, b = hot.layers[-1].get_weights()
    hot.layers[-1].set_weights([w * 40, b * 40])
    x, y = data.x_test, data.y_test
    zero = {}
    for output, m in (("softmax", hot), ("logits", logits_twin(hot))):
        est = make_classifier(m, 3, data.clip_values, max_batch=32, jit_compile=False, from_logits=output == "logits")
        g = est.class_gradient(x, label=y).reshape(len(x), -1)
        zero[output] = int((np.abs(g).max(axis=1) == 0).sum())
    assert zero == {"softmax": len(x), "logits": 0}
