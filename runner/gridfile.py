"""Reading a grid file: YAML's safe subset, but a duplicate key is a problem and a syntax error has its place.

PyYAML keeps the last of two equal keys without a word (`epochs: 5` ... `epochs: 50` runs 50), so the loader
records every duplicate as `FILE:LINE:COL: ...` for the grid's all-at-once problem list. A syntax error is
raised at once as `FILE:LINE:COL: message` (nothing else in the file can be trusted past it).

Aliases are shared, not copied, by the loader, so a 600-byte "billion laughs" file loads in microseconds; it
is everything after (interpolation, sweeps, error messages) that would walk 10^9 values. `expanded_size`
counts the values a file stands for (memoised per shared node, so the count itself is cheap) and a grid over
`MAX_VALUES` is refused before anything walks it. `clip` shortens any value echoed back in a message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError

from sercore.errors import ConfigError

# The C loader when built (same safe subset, ~10x faster on big sweeps); the constructor stays Python either way.
_Base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

MAX_VALUES = 100_000  # values a grid may stand for once its aliases are expanded (grids/full.yaml: 212)
ECHO_CHARS = 80  # longest value repeated back in an error message


class _GridLoader(_Base):  # type: ignore[misc, valid-type]
    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[Any, yaml.Mark, yaml.Mark]] = []


def _mapping(loader: _GridLoader, node: yaml.MappingNode) -> dict[Any, Any]:
    seen: dict[Any, yaml.Mark] = {}
    for key_node, _ in node.value:
        if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *anchor` keys may be overridden on purpose
            continue
        key = loader.construct_object(key_node, deep=True)
        try:
            if key in seen:
                loader.duplicates.append((key, key_node.start_mark, seen[key]))
            else:
                seen[key] = key_node.start_mark
        except TypeError:  # an unhashable key: construct_mapping reports it
            pass
    return loader.construct_mapping(node, deep=True)


_GridLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _mapping)


def _where(path: Path | str, mark: yaml.Mark | None) -> str:
    return f"{path}:{mark.line + 1}:{mark.column + 1}" if mark is not None else str(path)


def load_yaml(path: Path) -> tuple[Any, list[str]]:
    """(data, problems): problems are the duplicate keys, one `FILE:LINE:COL: ...` line each."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read grid ({exc.strerror})") from exc
    loader = _GridLoader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        what = exc.problem or "not valid YAML"
        context = ""
        if exc.context and not isinstance(exc, ConstructorError):
            started = exc.context_mark
            at = f" at line {started.line + 1}, column {started.column + 1}" if started and started is not mark else ""
            context = f" ({exc.context}{at})"
        raise ConfigError(f"{_where(path, mark)}: not valid YAML: {what}{context}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML ({str(exc).splitlines()[0]})") from exc
    finally:
        loader.dispose()
    check_size(data, str(path))
    problems = [f"{_where(path, mark)}: key {key!r} given twice in one mapping (first at line {first.line + 1}); "
                f"YAML would silently keep the last value" for key, mark, first in loader.duplicates]
    return data, problems


def path_problems(file: str, key: str, value: str | None) -> list[str]:
    """`output`/`cache` must be (or become) a folder: no part of the path may be an existing file."""
    if not value or "${" in value:
        return []
    path = Path(value).expanduser()
    for part in (path, *path.parents):
        if part.exists():
            return [] if part.is_dir() else [f"{file}: {key}: {part} is a file, not a folder (got {value!r})"]
    return []


def expanded_size(data: Any) -> int:
    """How many values (mappings, lists, scalars) `data` holds with every shared (aliased) node counted each
    time it is used: the size the grid would have written out. Linear in the distinct nodes."""
    memo: dict[int, int] = {}

    def size(node: Any) -> int:
        if not isinstance(node, (dict, list)):
            return 1
        known = memo.get(id(node))
        if known is None:
            items = node.values() if isinstance(node, dict) else node
            memo[id(node)] = known = 1 + sum(size(v) for v in items)
        return known

    return size(data)


def check_size(data: Any, where: str) -> None:
    """Raise ConfigError when aliases make `data` stand for more than MAX_VALUES values."""
    n = expanded_size(data)
    if n > MAX_VALUES:
        raise ConfigError(f"{where}: YAML aliases expand this grid to {n:,} values, over the limit of "
                          f"{MAX_VALUES:,}; write the values out or split the grid")


def clip(text: str, limit: int = ECHO_CHARS) -> str:
    """`text` cut to `limit` characters, ending in '...' when cut."""
    return text if len(text) <= limit else text[: limit - 3] + "..."


def clip_echo(line: str, limit: int = ECHO_CHARS) -> str:
    """A problem line with its echoed value (`(got VALUE)` or `(got VALUE; expected ...)`) clipped to `limit`."""
    start = line.find("(got ")
    if start < 0:
        return clip(line, 10 * limit)
    body = start + len("(got ")
    end = line.rfind("; expected")
    if end < body:
        end = line.rfind(")")
    if end < body:
        end = len(line)
    return clip(line[:body] + clip(line[body:end], limit) + line[end:], 10 * limit)
