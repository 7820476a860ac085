"""Exact resume of an interrupted training: each epoch's randomness is a pure function of (seed, epoch), and the
backup keeps every other piece of state an epoch leaves behind.

Keras' BackupAndRestore keeps the weights and the optimizer (moments, iteration, learning rate) but not the random
streams. fit() shuffles numpy inputs with an unseeded `tf.random.shuffle` inside the tf.data pipeline it builds
per fit() call, and each Dropout and LSTM-dropout layer draws from its own SeedGenerator, a [seed, counter]
variable that is not in the backup. A resumed fit() therefore replays the first epoch's permutation and dropout
masks at epoch k (issue 23: epoch-2 loss 1.4749 resumed against 1.5186 uninterrupted). Nor does the backup keep
EarlyStopping's and ReduceLROnPlateau's counters and best values, so a resumed run could stop later and restore
other weights. Here:

- `epoch_batches`: the training batches in an order drawn from `numpy.random.default_rng([seed, epoch])`
  (the order lives in a variable the pipeline reads when an epoch's iterator starts, after on_epoch_begin);
- `EpochRandomness`: at each epoch's start, sets that order and resets every SeedGenerator of the model to a
  state drawn from (seed, epoch, its index), so dropout masks depend only on (seed, epoch, batch);
- `ExactBackup`: BackupAndRestore writing each epoch's weights and callback state into its own folder and then
  pointing the metadata at it (atomic: a kill mid-save leaves the previous epoch whole), restoring EarlyStopping
  and ReduceLROnPlateau, and recording where training resumed (`resumed_from`, 1-based epochs).
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from . import io
from .errors import JobError

if TYPE_CHECKING:
    import keras
    import tensorflow as tf

log = logging.getLogger(__name__)

META = "training_metadata.json"
STATE = "callbacks.json"
BEST = "best.weights.npz"


def epoch_order(seed: int, epoch: int, n: int) -> np.ndarray:
    """The sample order of one epoch: a pure function of (seed, epoch)."""
    return np.random.default_rng([seed, epoch]).permutation(n).astype(np.int64)


def epoch_batches(x: np.ndarray, y: np.ndarray, batch_size: int) -> tuple[tf.data.Dataset, tf.Variable]:
    """Batches of (x, y) in the order held by the returned variable (read once per epoch, when its iterator starts).

    The last batch may be short, as with fit(batch_size=...). (x, y) enter the pipeline as one tensor, as in
    Keras' own array adapter, not as constants of the map function."""
    import tensorflow as tf

    n = len(x)
    with tf.device("/cpu:0"):  # tf.data runs on the CPU: a variable placed on a GPU could not be read there
        order = tf.Variable(np.arange(n, dtype=np.int64), trainable=False, name="epoch_order")
    starts = tf.data.Dataset.range(0, n, batch_size)
    arrays = tf.data.Dataset.from_tensors((x, y)).repeat()

    def gather(start: tf.Tensor, xy: tuple[tf.Tensor, tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor]:
        idx = order[start:tf.minimum(start + batch_size, n)]
        return tf.gather(xy[0], idx), tf.gather(xy[1], idx)

    ds = tf.data.Dataset.zip((starts, arrays)).map(gather)
    return ds.prefetch(2), order


def seed_generators(model: keras.Model) -> list[Any]:
    """Every SeedGenerator of the model's layers (Dropout, LSTM cells' dropout), in layer order."""
    gens: list[Any] = []
    for layer in model._flatten_layers(include_self=True, recursive=True):
        gens.extend(getattr(layer, "_seed_generators", []))
    return gens


def _callback_base() -> type:
    import keras

    return keras.callbacks.Callback


class EpochRandomness(_callback_base()):  # type: ignore[misc]
    """Sets the epoch's sample order and reseeds every dropout from (seed, epoch) at each epoch's start."""

    def __init__(self, seed: int, order: tf.Variable) -> None:
        super().__init__()
        self.seed, self.order = int(seed), order

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        self.order.assign(epoch_order(self.seed, epoch, int(self.order.shape[0])))
        for k, gen in enumerate(seed_generators(self.model)):
            s = int(np.random.SeedSequence([self.seed, epoch, k]).generate_state(1)[0] % (2**31 - 2))
            gen.state.assign(np.asarray([s, 0], dtype=gen.state.dtype))


def _backup_base() -> type:
    import keras

    return keras.callbacks.BackupAndRestore


class ExactBackup(_backup_base()):  # type: ignore[misc]
    """BackupAndRestore that also keeps EarlyStopping's and ReduceLROnPlateau's state, saves atomically, and
    records each resume (`resumed_from`: the 1-based epochs at which training picked up again)."""

    def __init__(self, backup_dir: str | Path, stateful: list[Any]) -> None:
        super().__init__(str(backup_dir))
        self.folder = Path(backup_dir)
        self.stateful = stateful  # the EarlyStopping and ReduceLROnPlateau of this fit
        self.resumed_from: list[int] = []
        self._pending: dict[str, Any] | None = None

    # ---- save
    def _save_model(self) -> None:
        epoch = self._current_epoch
        here = self.folder / f"epoch-{epoch:05d}"
        shutil.rmtree(here, ignore_errors=True)
        here.mkdir(parents=True)
        self.model.save_weights(str(here / "latest.weights.h5"))
        state = {"resumed_from": self.resumed_from, "callbacks": [_state_of(cb) for cb in self.stateful]}
        best = [getattr(cb, "best_weights", None) for cb in self.stateful]
        if best and best[0] is not None:
            io.write_npz(here / BEST, **{f"w{i:04d}": w for i, w in enumerate(best[0])})
        io.write_json(here / STATE, state)
        io.write_json(self.folder / META, {"epoch": epoch, "batch": 0, "folder": here.name})  # the commit point
        for old in self.folder.glob("epoch-*"):
            if old.name != here.name:
                shutil.rmtree(old, ignore_errors=True)

    # ---- restore
    def on_train_begin(self, logs: dict[str, Any] | None = None) -> None:
        self._load_model()

    def _load_model(self) -> None:
        if not usable(self.folder):
            return
        meta = json.loads((self.folder / META).read_text(encoding="utf-8"))
        epoch, here = int(meta["epoch"]), self.folder / str(meta["folder"])
        try:  # a failed load may have overwritten some weights already: this attempt cannot go on
            if self.model.optimizer is not None and not self.model.optimizer.built:
                self.model.optimizer.build(self.model.trainable_variables)
            self.model.load_weights(str(here / "latest.weights.h5"))
            self._pending = json.loads((here / STATE).read_text(encoding="utf-8"))
            if (here / BEST).is_file():
                with np.load(here / BEST) as z:
                    self._pending["best_weights"] = [z[k] for k in sorted(z.files)]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise JobError(f"{here}: {_set_aside(self.folder, exc)}; the next attempt trains afresh") from exc
        self.model._initial_epoch = epoch
        self.resumed_from = [*self._pending.get("resumed_from", []), epoch + 1]
        log.info("resuming training at epoch %d from %s", epoch + 1, here)

    def on_epoch_begin(self, epoch: int, logs: dict[str, Any] | None = None) -> None:
        """The callbacks' own on_train_begin has reset them by now: put their saved state back."""
        if self._pending is None:
            return
        for cb, saved in zip(self.stateful, self._pending["callbacks"], strict=True):
            for key, value in saved.items():
                setattr(cb, key, value)
        if self._pending.get("best_weights") is not None:
            for cb in self.stateful:
                if hasattr(cb, "best_weights"):
                    cb.best_weights = self._pending["best_weights"]
        self._pending = None


def usable(folder: Path) -> bool:
    """Whether `folder` holds a backup to resume from. One whose metadata does not read or names no epoch folder
    (a plain Keras backup of older code, say) is set aside with a warning: training starts afresh."""
    meta_path = Path(folder) / META
    if not meta_path.is_file():
        return False
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        int(meta["epoch"])
        if not (Path(folder) / str(meta["folder"])).is_dir():
            raise FileNotFoundError(f"no folder {meta['folder']}")
    except (OSError, ValueError, KeyError, TypeError) as exc:
        log.warning("%s: %s; training starts afresh", meta_path, _set_aside(Path(folder), exc))
        return False
    return True


def _set_aside(folder: Path, exc: BaseException) -> str:
    """Move an unusable backup beside its folder (kept for a look, never read again); the reason."""
    aside = folder.with_name(f"{folder.name}.unreadable")
    shutil.rmtree(aside, ignore_errors=True)
    folder.rename(aside)
    return f"unreadable training backup ({type(exc).__name__}: {str(exc)[:160]}), moved to {aside.name}"


# The counters and best values EarlyStopping and ReduceLROnPlateau reset in on_train_begin.
_STATE_KEYS = ("wait", "best", "best_epoch", "stopped_epoch", "cooldown_counter")


def _state_of(cb: Any) -> dict[str, Any]:
    out = {}
    for key in _STATE_KEYS:
        if hasattr(cb, key):
            value = getattr(cb, key)
            out[key] = None if value is None else (float(value) if key == "best" else int(value))
    return out
