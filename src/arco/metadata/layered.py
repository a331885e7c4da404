"""A copy-cheap map for snapshot states: small change layers over a flat base.

Each catalog version shares everything with its parent except one small dict of the keys it
changed, so deriving version N+1 from N costs O(change) instead of O(catalog). Lookups walk
the layers newest first; layers are merged once there are too many, and folded into a new
base once the merged changes exceed a fraction of the base, which keeps both lookups and
the amortised merge cost bounded independent of catalog size.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")

_GONE: Any = object()  # tombstone in a change layer
_MISSING: Any = object()

MAX_LAYERS = 16


class LayeredMap(Mapping[K, V], Generic[K, V]):
    """An immutable-once-shared mapping; mutate only a map returned by :meth:`derive`."""

    __slots__ = ("_layers", "_len", "_merged")

    def __init__(self, base: dict[K, V] | None = None) -> None:
        # layers[0] is the base (no tombstones); the last layer is the one this map may mutate
        self._layers: list[dict[K, Any]] = [base if base is not None else {}, {}]
        self._len = len(self._layers[0])
        self._merged: dict[K, V] | None = None

    def derive(self) -> LayeredMap[K, V]:
        """A new map with the same content and a fresh private layer for its changes."""
        child: LayeredMap[K, V] = LayeredMap.__new__(LayeredMap)
        layers = [layer for layer in self._layers if layer or layer is self._layers[0]]
        if len(layers) > MAX_LAYERS:
            layers = _compact(layers)
        child._layers = [*layers, {}]
        child._len = self._len
        child._merged = None
        return child

    def get(self, key: K, default: Any = None) -> Any:
        for layer in reversed(self._layers):
            value = layer.get(key, _MISSING)
            if value is not _MISSING:
                return default if value is _GONE else value
        return default

    def __getitem__(self, key: K) -> V:
        value = self.get(key, _MISSING)
        if value is _MISSING:
            raise KeyError(key)
        return value  # type: ignore[no-any-return]

    def __contains__(self, key: object) -> bool:
        return self.get(key, _MISSING) is not _MISSING  # type: ignore[arg-type]

    def __len__(self) -> int:
        return self._len

    def __iter__(self) -> Iterator[K]:
        return iter(self._flat())

    def _flat(self) -> dict[K, V]:
        if len(self._layers) == 2 and not self._layers[1]:
            return self._layers[0]
        if self._merged is None:
            self._merged = _fold(self._layers)
        return self._merged

    def values(self) -> Any:
        return self._flat().values()

    def items(self) -> Any:
        return self._flat().items()

    def set(self, key: K, value: V) -> None:
        if key not in self:
            self._len += 1
        self._layers[-1][key] = value
        self._merged = None

    def delete(self, key: K) -> None:
        if key in self:
            self._len -= 1
            self._layers[-1][key] = _GONE
            self._merged = None


def _fold(layers: list[dict[Any, Any]]) -> dict[Any, Any]:
    merged = dict(layers[0])
    for layer in layers[1:]:
        for key, value in layer.items():
            if value is _GONE:
                merged.pop(key, None)
            else:
                merged[key] = value
    return merged


def _compact(layers: list[dict[Any, Any]]) -> list[dict[Any, Any]]:
    """Merge the change layers; fold them into a new base once they are big enough."""
    changes: dict[Any, Any] = {}
    for layer in layers[1:]:
        changes.update(layer)
    base = layers[0]
    if len(changes) * 8 > len(base) + 256:
        return [_fold([base, changes])]
    return [base, changes]
