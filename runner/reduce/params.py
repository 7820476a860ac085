"""An attack configuration's parameters in the reducer: decoded once, at merge, and carried as the key itself.

The shard stores a configuration's parameters once, as canonical JSON (`params`). Merge decodes each distinct
value once into a `ParamKey`: the same text (so grouping, sorting, joins, CSV and every table print exactly what
they printed before) that also carries the decoded values. Everything after merge reads `ParamKey.values`; a plain
string reaching `param_values` is a bug (a frame whose keys did not come from merge or the plan) and says so.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any


class ParamKey(str):
    """Canonical JSON of a parameter set (sorted keys, no spaces) with its values, read-only."""

    values: Mapping[str, Any]

    def __new__(cls, values: Mapping[str, Any] | None) -> ParamKey:
        plain = dict(sorted((values or {}).items()))  # the key's order, so labels read as they did from the JSON
        key = super().__new__(cls, json.dumps(plain, separators=(",", ":")))
        key.values = MappingProxyType(plain)
        return key

    def __reduce__(self) -> tuple[Any, tuple[dict[str, Any]]]:  # pickled by a process pool: rebuild from values
        return ParamKey, (dict(self.values),)


def decode(texts: list[str | None]) -> dict[str | None, ParamKey]:
    """The one place the reducer parses parameter JSON: each distinct shard value once (merge calls it)."""
    return {t: ParamKey(json.loads(t) if t else {}) for t in dict.fromkeys(texts)}


def param_values(params: ParamKey) -> Mapping[str, Any]:
    """A configuration's parameters, decoded at merge."""
    if not isinstance(params, ParamKey):
        raise TypeError(f"parameters {params!r} were not decoded at merge (a ParamKey is expected)")
    return params.values


def canonical_params(params: ParamKey | Mapping[str, Any] | None) -> ParamKey:
    """One spelling per parameter set: a ParamKey as it is, a mapping (a plan spec's parameters) made into one."""
    if isinstance(params, ParamKey):
        return params
    if isinstance(params, str):
        raise TypeError(f"parameters {params!r} were not decoded at merge (a ParamKey is expected)")
    return ParamKey(params)
