"""A user's own model (docs/bring-your-own.md): a factory callable or a saved .keras file.

Checked at grid load without building anything heavy: a factory is imported (importable? callable?), a file is
hashed (its sha256 is part of the job id) and its input shape and head read off the archive's config.json, so a
wrong file fails in one line before any job runs. Training goes through `sercore.models`' user-model hooks.
"""

from __future__ import annotations

import hashlib
import importlib
import inspect
import json
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TypeVar

from .errors import ConfigError
from .vocab import MODEL_INPUT_SHAPE


class ModelSpec(Protocol):
    """What these checks read of `sercore.specs.ModelSpec` (a protocol: specs imports this module, not back;
    read-only, as the frozen spec's fields are)."""

    @property
    def output(self) -> str: ...

    @property
    def factory(self) -> str | None: ...

    @property
    def file(self) -> str | None: ...

    @property
    def file_sha256(self) -> str | None: ...

    @property
    def factory_sha256(self) -> str | None: ...

    @property
    def params(self) -> Any: ...

    @property
    def trained(self) -> bool: ...

    @property
    def classes(self) -> tuple[str, ...] | None: ...

    @property
    def standardizes_inside(self) -> bool: ...

    @property
    def byo(self) -> bool: ...


Spec = TypeVar("Spec", bound=ModelSpec)


def resolve_factory(ref: str) -> Callable[..., Any]:
    """The callable `pkg.module:name`; ValueError (pydantic reports it under the key) when it is not one."""
    module_name, sep, attr = ref.partition(":")
    if not sep or not module_name or not attr:
        raise ValueError("factory must be 'pkg.module:function'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise ValueError(f"module {module_name!r} does not import ({exc}); is it on PYTHONPATH "
                         "in the job's environment?") from exc
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ValueError(f"{module_name} has no callable {attr!r}")
    return fn


def factory_sha256(ref: str) -> str | None:
    """The sha256 of the source file of a factory's module (None when it does not import or has no source file):
    part of the job id, so an edited factory is a new job, and of the model's name in the report."""
    try:
        module = importlib.import_module(ref.partition(":")[0])
        source = inspect.getsourcefile(module)
    except (ImportError, TypeError, ValueError):
        return None  # reported by resolve_factory, under the key
    return file_sha256(source) if source and Path(source).is_file() else None


def model_name(name: str, sha256: str | None) -> str:
    """How the report names a user's model: its factory or file name and the first 8 hex digits of its sha256."""
    return f"{name} sha256:{sha256[:8]}" if sha256 else name


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _config(path: str | Path) -> dict[str, Any]:
    try:
        with zipfile.ZipFile(path) as z:
            return json.loads(z.read("config.json"))
    except (OSError, KeyError, zipfile.BadZipFile, json.JSONDecodeError) as exc:
        raise ValueError(f"file {str(path)!r}: not a Keras .keras archive ({type(exc).__name__})") from exc


def _layers(config: dict[str, Any]) -> list[dict[str, Any]]:
    return list(config.get("config", {}).get("layers", []))


def file_input_shape(path: str | Path) -> tuple[int | None, ...] | None:
    """The input shape (no batch axis) of a saved model, from its config; None when the config does not say."""
    for layer in _layers(_config(path)):
        cfg = layer.get("config", {})
        shape = cfg.get("batch_shape") or cfg.get("batch_input_shape")
        if layer.get("class_name") == "InputLayer" and shape:
            return tuple(shape[1:])
    return None


def file_head(path: str | Path) -> str | None:
    """softmax / logits from the last layer's activation in the saved config; None when it has none."""
    layers = _layers(_config(path))
    act = layers[-1].get("config", {}).get("activation") if layers else None
    return {"softmax": "softmax", "linear": "logits"}.get(act) if isinstance(act, str) else None


def classes_file(path: str | Path) -> Path:
    """Where a trained model's class order lies: `<file>.classes.json` (a JSON list of emotions)."""
    return Path(f"{path}.classes.json")


def file_classes(spec: ModelSpec) -> tuple[str, ...] | None:
    """A trained model's class order: the file beside it, else the grid's `classes:`."""
    assert spec.file is not None
    side = classes_file(spec.file)
    if not side.exists():
        return spec.classes
    try:
        found = tuple(str(c) for c in json.loads(side.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise ConfigError(f"{side}: not a JSON list of class names ({exc})") from exc
    if spec.classes is not None and spec.classes != found:
        raise ConfigError(f"{side}: class order {list(found)} differs from the grid's classes {list(spec.classes)}")
    return found


def fill_file_fields(data: Any) -> Any:
    """Before validation: hash the file or the factory's module (unless the spec already carries its hash: a
    rebuilt job) and take the output from the file's head when the grid does not say."""
    if isinstance(data, dict) and isinstance(data.get("factory"), str) and not data.get("factory_sha256"):
        sha = factory_sha256(data["factory"])
        return dict(data, factory_sha256=sha) if sha else data
    if not isinstance(data, dict) or not data.get("file") or data.get("file_sha256"):
        return data
    path = Path(str(data["file"]))
    if not path.is_file():
        return data  # reported by check_model_spec (after the other keys' own checks)
    out = dict(data, file_sha256=file_sha256(path))
    head = file_head(path)
    if head is not None and "output" not in data:
        out["output"] = head
    return out


def check_model_spec(spec: Spec) -> Spec:
    """Rules between the user-model keys (one line each, raised as ValueError for pydantic)."""
    INPUT_SHAPE = MODEL_INPUT_SHAPE  # noqa: N806 - the features' shape, as sercore.models names it

    if spec.factory is not None and spec.file is not None:
        raise ValueError("give either factory or file, not both")
    if spec.params is not None and spec.factory is None:
        raise ValueError("params go to a factory: give `factory:` too")
    if (spec.trained or spec.classes is not None) and spec.file is None:
        raise ValueError("trained and classes apply to a model file: give `file:` too")
    if spec.standardizes_inside and not spec.byo:
        raise ValueError("standardizes_inside applies to your own model (factory or file)")
    if spec.file is not None and spec.file_sha256 is None:
        raise ValueError(f"file {spec.file!r}: no such file (relative paths start where you run the command)")
    if spec.file is None or not Path(spec.file).is_file():
        return spec  # a rebuilt job on a worker: checked again when it runs
    shape = file_input_shape(spec.file)
    if shape is not None and shape != INPUT_SHAPE:
        raise ValueError(f"file {spec.file!r}: input shape {shape} does not match the features' {INPUT_SHAPE}")
    head = file_head(spec.file)
    if head is not None and head != spec.output:
        raise ValueError(f"file {spec.file!r}: its last layer emits {head} but output is {spec.output!r}")
    try:
        classes = file_classes(spec) if spec.trained else ()
    except ConfigError as exc:  # pydantic reports ValueErrors only
        raise ValueError(str(exc)) from exc
    if classes is None:
        raise ValueError(f"file {spec.file!r}: a trained model needs its class order: give `classes:` or write "
                         f"{classes_file(spec.file).name} beside it")
    return spec
