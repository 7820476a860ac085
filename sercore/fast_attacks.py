"""ART attacks with their hot loops moved off Python, for the compiled estimator; same results as ART's classes.

`registry.build` picks these when the estimator is sercore's compiled one (stock estimator: ART's own classes).

- `CompiledBIM`: for a TensorFlowV2Classifier ART's BasicIterativeMethod runs ProjectedGradientDescentTensorFlowV2:
  max_iter Python iterations, each an estimator.loss_gradient call plus a dozen eager TensorFlow ops (NaN check,
  sign, step, clip, projection with eps broadcast to the batch's shape as a float64 numpy array and converted
  every time). Here the whole loop is one traced TensorFlow function per (padded) batch shape, with the same
  float32 steps in ART's order (gradient of the mean loss, NaN -> 0, x + eps_step * sign(g), clip to
  clip_values, then x_init + sign(d) * min(|d|, eps) with d = x - x_init). Falls back to ART for what it does not
  cover (random
  init, masks, array eps, momentum, targeted, ART preprocessing).
- `FastPixelAttack`: ART's PixelAttack builds each differential-evolution population by tiling the image once
  per candidate in a Python loop and rescales the whole population from [0, 255] back to the data range. Here
  the rescaled image is tiled once with numpy and only the th changed cells are written, per pixel slot in ART's
  order (a later slot overwrites an earlier one at the same cell, as in ART), with the value rescaled by ART's
  own `rescale_input`: elementwise float32 arithmetic, so the population is bit-identical to ART's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf
from art.attacks.evasion import BasicIterativeMethod, PixelAttack
from art.config import ART_NUMPY_DTYPE

from .estimator import CompiledTensorFlowV2Classifier


class CompiledBIM(BasicIterativeMethod):
    """BasicIterativeMethod whose iterations run inside one tf.function (see module docstring)."""

    def _covered(self, kwargs: dict[str, Any]) -> bool:
        est = self.estimator
        return (isinstance(est, CompiledTensorFlowV2Classifier) and est._plain() and est._loss_object is not None
                and self.norm in (np.inf, "inf") and self.num_random_init == 0 and not self.targeted
                and kwargs.get("mask") is None and getattr(self, "decay", None) is None and np.isscalar(self.eps)
                and np.isscalar(self.eps_step) and est.clip_values is not None)

    def generate(self, x: np.ndarray, y: np.ndarray | None = None, **kwargs: Any) -> np.ndarray:
        if not self._covered(kwargs):
            return super().generate(x, y, **kwargs)
        impl = self._attack  # ART's ProjectedGradientDescentTensorFlowV2 for a TensorFlowV2Classifier
        impl._check_compatibility_input_and_eps(x=x)
        targets = impl._set_targets(x, y)  # ART: the model's predictions (one-hot) when y is None
        labels = np.argmax(targets, axis=1).astype(np.int64)
        adv = x.astype(ART_NUMPY_DTYPE)
        for start in range(0, len(x), self.batch_size):
            stop = min(len(x), start + self.batch_size)
            adv[start:stop] = self.estimator.iterate_sign_steps(
                adv[start:stop], labels[start:stop], float(self.eps), float(self.eps_step), int(self.max_iter)
            )
        return adv


def _bim_graph(est: CompiledTensorFlowV2Classifier) -> Any:
    """The traced BIM loop of one estimator (built once; one trace per padded batch shape)."""
    lo, hi = (float(v) for v in est.clip_values)

    def loop(x0: tf.Tensor, y: tf.Tensor, w: tf.Tensor, eps: tf.Tensor, step: tf.Tensor, n: tf.Tensor) -> tf.Tensor:
        x = x0
        for _ in tf.range(n):
            with tf.GradientTape() as tape:
                tape.watch(x)
                losses = est._loss_none(y, est._model(x, training=False))
                total = tf.reduce_sum(tf.cast(losses, tf.float32) * w)
            g = tape.gradient(total, x)
            g = tf.where(tf.math.is_nan(g), tf.zeros_like(g), g)
            x = tf.clip_by_value(x + step * tf.sign(g), lo, hi)
            d = x - x0
            x = x0 + tf.sign(d) * tf.minimum(tf.abs(d), eps)
        return x

    return tf.function(loop, jit_compile=est.jit_compile)


def iterate_sign_steps(self: CompiledTensorFlowV2Classifier, x: np.ndarray, labels: np.ndarray, eps: float,
                       eps_step: float, max_iter: int) -> np.ndarray:
    """BIM on one batch: max_iter signed-gradient steps with clipping and L-inf projection, compiled."""
    if "bim" not in self._fns:
        if not hasattr(self, "_loss_none"):
            self._loss_none, self._reduction = self._per_sample_loss()
        self._fns["bim"] = _bim_graph(self)
    n = len(x)
    scale = 1.0 / n if self._reduction in ("sum_over_batch_size", "mean", "auto") else 1.0
    consts = (tf.constant(eps, tf.float32), tf.constant(eps_step, tf.float32), tf.constant(max_iter, tf.int32))
    fn = self._fns["bim"]
    out = []
    for start, stop, size in _pieces(n, self.max_batch):
        pad = size - (stop - start)
        xs = np.pad(x[start:stop], [(0, pad)] + [(0, 0)] * (x.ndim - 1))
        ys = np.pad(labels[start:stop], (0, pad))
        ws = np.pad(np.full(stop - start, scale, np.float32), (0, pad))  # padded rows weigh 0: never move
        out.append(fn(tf.constant(xs), tf.constant(ys), tf.constant(ws), *consts).numpy()[: stop - start])
    self.count("G", n * max_iter)
    return np.concatenate(out)


def _pieces(n: int, max_batch: int) -> Any:
    from .estimator import pieces

    return pieces(n, max_batch)


CompiledTensorFlowV2Classifier.iterate_sign_steps = iterate_sign_steps


class FastPixelAttack(PixelAttack):
    """PixelAttack with a vectorised population builder (see module docstring); same populations as ART's."""

    def _attack(self, image: np.ndarray, target_class: np.ndarray, limit: int) -> tuple[bool, np.ndarray]:
        """ART's differential-evolution branch with `_population` in place of perturb + rescale."""
        if not self.rescale or self.es != 1:
            return super()._attack(image, target_class, limit)
        from art.attacks.evasion.pixel_threshold import differential_evolution

        bounds, _ = self._get_bounds(image, limit)
        base = self.rescale_input(image[None])

        def predict_fn(x: np.ndarray) -> np.ndarray:
            predictions = self.estimator.predict(self._population(base, x))[:, target_class]
            return predictions if not self.targeted else 1 - predictions

        def callback_fn(x: np.ndarray, convergence: float | None = None) -> bool:
            return self._success(base, x, target_class)

        strategy = differential_evolution(predict_fn, bounds, disp=self.verbose_es, maxiter=self.max_iter,
                                          popsize=max(1, 400 // len(bounds)), recombination=1, atol=-1,
                                          callback=callback_fn, polish=False)
        if self._success(base, strategy.x, target_class):
            return True, self._perturb_image(strategy.x, image)[0]
        return False, image

    def _success(self, base: np.ndarray, x: np.ndarray, target_class: np.ndarray) -> bool:
        predicted = int(np.argmax(self.estimator.predict(self._population(base, x))[0]))
        # a Python bool: ART's differential evolution stops only when the callback returns `True` itself (`is True`)
        return bool(predicted == target_class) if self.targeted else bool(predicted != target_class)

    def _population(self, base: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Rescaled perturbed images of a population: what ART's predict_fn feeds the estimator, bit for bit."""
        x = np.atleast_2d(x).astype(int)
        imgs = np.repeat(base, len(x), axis=0)
        rows = np.arange(len(x))
        width = 2 + self.img_channels
        for k in range(x.shape[1] // width):  # pixel slots in ART's order: a later one wins at a shared cell
            px = x[:, k * width:(k + 1) * width]
            vals = self.rescale_input(px[:, 2:].astype(ART_NUMPY_DTYPE))
            i, j = px[:, 0] % self.img_rows, px[:, 1] % self.img_cols
            if self.estimator.channels_first:
                imgs[rows, :, i, j] = vals
            else:
                imgs[rows, i, j] = vals
        return imgs
