"""A TensorFlowV2Classifier whose predict, loss_gradient and class_gradient run as compiled TensorFlow functions.

Why: ART 1.20's TensorFlowV2Classifier computes every gradient eagerly (one Python-driven tape per call), and its
class_gradient runs one forward pass per requested class. ART's attacks call these thousands of times, so the
Python overhead dominates on small batches. Here each call is split into pieces of at most `max_batch` samples,
each piece padded to one of a few sizes (stable shapes: a handful of traces, reused for the whole job), and run
through a `tf.function` (XLA when `jit_compile` says so):

- predict: one forward pass per piece (ART's own predict runs the whole input in one call, however large).
- loss_gradient: per-sample losses from the same loss object (reduction off), weighted so the result equals ART's
  gradient of the reduced loss over the whole call (e.g. 1/n for `sum_over_batch_size`); padded rows weigh 0.
- class_gradient: a single backward pass of each sample's own label (ART: one forward and backward pass per
  distinct label); for all classes, that graph once per class. (One forward pass with a persistent tape and one
  backward pass per class was no faster on CPU and took 2-3x longer to trace.)

Samples are independent in inference mode (training=False: BatchNorm uses its moving statistics), so padding
and per-sample label selection change nothing but speed. Same interface as the parent; inputs that carry ART
preprocessing other than the identity fall back to the parent's eager code.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import tensorflow as tf
from art.estimators.classification import TensorFlowV2Classifier

# Padded sizes: powers of two up to PAD_STEP, then multiples of PAD_STEP (PixelAttack's ~400-candidate populations
# would waste a third of their compute padded to a power of two); at most max_batch / PAD_STEP + 6 shapes per job.
PAD_STEP = 32


def padded(size: int, max_batch: int) -> int:
    if size <= PAD_STEP:
        return min(max_batch, 1 << (size - 1).bit_length())
    return min(max_batch, -(-size // PAD_STEP) * PAD_STEP)


def pieces(n: int, max_batch: int) -> Iterator[tuple[int, int, int]]:
    """(start, stop, padded size) covering range(n) in pieces of at most max_batch samples."""
    for start in range(0, n, max_batch):
        stop = min(n, start + max_batch)
        yield start, stop, padded(stop - start, max_batch)


def default_jit() -> bool:
    """XLA on GPU; off on CPU, where benchmarks/attacks.py measured no gain (see docs/attacks.md)."""
    return bool(tf.config.list_physical_devices("GPU"))


class CompiledTensorFlowV2Classifier(TensorFlowV2Classifier):
    """Drop-in TensorFlowV2Classifier with compiled, shape-stable predict and gradients (see module docstring)."""

    def __init__(self, *args: Any, max_batch: int = 256, jit_compile: bool | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.max_batch = int(max_batch)
        self.jit_compile = default_jit() if jit_compile is None else bool(jit_compile)
        self._fns: dict[str, Callable[..., Any]] = {}
        self.evals: dict[str, int] = {"F": 0, "G": 0}

    def count(self, kind: str, n: int) -> None:
        """Model evaluations so far, per sample: F forward, G forward+backward (the benchmark's ideal time)."""
        self.evals[kind] = self.evals.get(kind, 0) + int(n)

    # -- helpers -------------------------------------------------------------------------------------------
    def _plain(self) -> bool:
        """True when ART's preprocessing is the identity (no defences, mean 0, std 1): the compiled path applies."""
        if self.preprocessing_defences or self.postprocessing_defences:
            return False
        for op in self.preprocessing_operations:
            mean, std = getattr(op, "mean", None), getattr(op, "std", None)
            if mean is None or std is None or np.any(np.asarray(mean) != 0) or np.any(np.asarray(std) != 1):
                return False
        return True

    def _fn(self, name: str) -> Callable[..., Any]:
        if name not in self._fns:
            self._fns[name] = tf.function(getattr(self, f"_graph_{name}"), jit_compile=self.jit_compile)
        return self._fns[name]

    def _run(self, name: str, x: Any, *extra: np.ndarray) -> tf.Tensor:
        """Apply compiled function `name` piece by piece; `extra` arrays are sliced and zero-padded alongside x."""
        # numpy input is sliced and padded in numpy: one copy per piece into TensorFlow (converting the whole
        # array first, then slicing and tf.pad, copied a PixelAttack population three times: ~10 % of its time)
        host = isinstance(x, np.ndarray)
        if not host:
            x = tf.convert_to_tensor(x, dtype=tf.float32)
        n = int(x.shape[0])
        out = []
        for start, stop, size in pieces(n, self.max_batch):
            pad = size - (stop - start)
            xs = x[start:stop]
            if host:
                xs = np.asarray(xs, dtype=np.float32)
                if pad:
                    xs = np.concatenate([xs, np.zeros((pad, *xs.shape[1:]), np.float32)])
                args = [tf.constant(xs)]
            else:
                args = [tf.pad(xs, [[0, pad]] + [[0, 0]] * (len(xs.shape) - 1)) if pad else xs]
            for e in extra:
                es = e[start:stop]
                args.append(tf.constant(np.pad(es, [(0, pad)] + [(0, 0)] * (es.ndim - 1)) if pad else es))
            res = self._fn(name)(*args)
            out.append(res[: stop - start] if pad else res)
        return out[0] if len(out) == 1 else tf.concat(out, axis=0)

    def _per_sample_loss(self) -> Any:
        """The loss object without reduction, and the weight ART's reduction gives each sample over n samples."""
        lo = self._loss_object
        config = {**lo.get_config(), "reduction": None}
        return type(lo).from_config(config), lo.reduction

    # -- graphs --------------------------------------------------------------------------------------------
    def _graph_predict(self, x: tf.Tensor) -> tf.Tensor:
        return self._model(x, training=False)

    def _graph_loss_grad(self, x: tf.Tensor, y: tf.Tensor, w: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(x)
            losses = self._loss_none(y, self._model(x, training=False))
            total = tf.reduce_sum(tf.cast(losses, tf.float32) * w)
        return tape.gradient(total, x)

    def _graph_label_grad(self, x: tf.Tensor, label: tf.Tensor) -> tf.Tensor:
        with tf.GradientTape() as tape:
            tape.watch(x)
            pred = self._model(x, training=False)
            picked = tf.reduce_sum(tf.gather(pred, label, axis=1, batch_dims=1))
        return tape.gradient(picked, x)

    # -- ART interface -------------------------------------------------------------------------------------
    def predict(self, x: np.ndarray, batch_size: int = 128, training_mode: bool = False, **kwargs: Any) -> np.ndarray:
        self.count("F", len(x))
        if training_mode or not self._plain():
            return super().predict(x, batch_size=batch_size, training_mode=training_mode, **kwargs)
        return self._run("predict", x).numpy()

    def loss_gradient(self, x: Any, y: Any, training_mode: bool = False, **kwargs: Any) -> Any:
        self.count("G", len(x))
        if training_mode or not self._plain() or self._loss_object is None:
            return super().loss_gradient(x, y, training_mode=training_mode, **kwargs)
        if not hasattr(self, "_loss_none"):
            self._loss_none, self._reduction = self._per_sample_loss()
        y = np.asarray(y.numpy() if isinstance(y, tf.Tensor) else y)
        if self._reduce_labels and y.ndim == 2:
            y = np.argmax(y, axis=1)
        y = y.astype(np.int64 if self._reduce_labels else np.float32)
        n = len(y)
        scale = 1.0 / n if self._reduction in ("sum_over_batch_size", "mean", "auto") else 1.0
        grads = self._run("loss_grad", x, y, np.full(n, scale, np.float32))
        return grads.numpy() if isinstance(x, np.ndarray) else grads

    def class_gradient(
        self,
        x: np.ndarray,
        label: int | list[int] | np.ndarray | None = None,
        training_mode: bool = False,
        **kwargs: Any,
    ) -> np.ndarray:
        n = int(np.shape(x)[0])
        self.count("G", n * (self.nb_classes if label is None else 1))
        if training_mode or not self._plain():
            return super().class_gradient(x, label=label, training_mode=training_mode, **kwargs)
        if label is None:  # every class: the per-label graph once per class (cheaper to trace than a 5-way tape)
            grads = [self._run("label_grad", x, np.full(n, k, np.int64)) for k in range(self.nb_classes)]
            return tf.stack(grads, axis=1).numpy()
        labels = np.full(n, label, np.int64) if np.isscalar(label) else np.asarray(label, np.int64).reshape(n)
        return self._run("label_grad", x, labels).numpy()[:, None]


class CountingTensorFlowV2Classifier(TensorFlowV2Classifier):
    """ART's own TensorFlowV2Classifier, only counting evaluations like the compiled one (`evals`, `count`)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.evals: dict[str, int] = {"F": 0, "G": 0}

    count = CompiledTensorFlowV2Classifier.count

    def predict(self, x: np.ndarray, batch_size: int = 128, training_mode: bool = False, **kwargs: Any) -> np.ndarray:
        self.count("F", len(x))
        return super().predict(x, batch_size=batch_size, training_mode=training_mode, **kwargs)

    def loss_gradient(self, x: Any, y: Any, training_mode: bool = False, **kwargs: Any) -> Any:
        self.count("G", len(x))
        return super().loss_gradient(x, y, training_mode=training_mode, **kwargs)

    def class_gradient(self, x: Any, label: Any = None, training_mode: bool = False, **kwargs: Any) -> Any:
        self.count("G", len(x) * (self.nb_classes if label is None else 1))
        return super().class_gradient(x, label=label, training_mode=training_mode, **kwargs)


def make_classifier(
    model: Any,
    nb_classes: int,
    clip_values: tuple[float, float],
    *,
    compiled: bool = True,
    max_batch: int = 256,
    jit_compile: bool | None = None,
    from_logits: bool = False,
) -> TensorFlowV2Classifier:
    """The paper's wrapper (sparse cross-entropy on the softmax output, clip values, channels last), stock or ours.

    `from_logits`: the model emits logits (ModelSpec.output == "logits"); the loss takes them as such, and every
    gradient (loss, class) and `predict` is then of the logits, what C&W and DeepFool are defined on."""
    kwargs: dict[str, Any] = {
        "nb_classes": nb_classes,
        "input_shape": tuple(model.input_shape[1:]),
        "loss_object": tf.keras.losses.SparseCategoricalCrossentropy(from_logits=from_logits),
        "clip_values": (float(clip_values[0]), float(clip_values[1])),
        "channels_first": False,
    }
    if compiled:
        return CompiledTensorFlowV2Classifier(model, max_batch=max_batch, jit_compile=jit_compile, **kwargs)
    return CountingTensorFlowV2Classifier(model, **kwargs)
