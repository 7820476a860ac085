"""ART attacks whose randomness ART leaves unseeded, made reproducible from numpy's global RNG (seeded per chunk).

Only BoundaryAttack needs this: its starting point comes from a fresh `np.random.RandomState()` (OS entropy) in
`_init_sample`, while everything else it draws (and JSMA's random targets, PixelAttack's differential evolution)
already uses numpy's global state.
"""

from __future__ import annotations

import logging

import numpy as np
from art.attacks.evasion import BoundaryAttack
from art.config import ART_NUMPY_DTYPE

log = logging.getLogger(__name__)


class SeededBoundaryAttack(BoundaryAttack):
    """ART's BoundaryAttack with its random starting point drawn from numpy's global (seeded) RNG."""

    def _init_sample(
        self,
        x: np.ndarray,
        y: int,
        y_p: int,
        init_pred: int,
        adv_init: np.ndarray,
        clip_min: float,
        clip_max: float,
    ) -> tuple[np.ndarray, int] | None:
        # Same rule as ART: uniform noise in the clip range until the class is the target (targeted) or differs
        # from the prediction (untargeted), at most init_size draws.
        if self.targeted and y == y_p:
            return None

        def wanted(c: int) -> bool:
            return c == y if self.targeted else c != y_p

        if adv_init is not None and wanted(init_pred):
            return adv_init.astype(ART_NUMPY_DTYPE), init_pred
        for _ in range(self.init_size):
            img = np.random.uniform(clip_min, clip_max, size=x.shape).astype(x.dtype)
            cls = int(np.argmax(self.estimator.predict(img[None], batch_size=self.batch_size), axis=1)[0])
            if wanted(cls):
                return img, cls
        log.warning("boundary: no adversarial starting point in %d random draws; sample left unchanged", self.init_size)
        return None
