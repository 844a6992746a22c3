"""A land's map of legacy page ids to ours, kept in two sorted arrays instead of a dict of Python integers."""

from __future__ import annotations

from array import array
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np

_INT64 = (-(2**63), 2**63 - 1)
# Our ids are positive: a lookup that finds nothing gives this, turned into None.
_MISSING = -1


def _as_int(key: Any) -> int | None:
    """The integer a dict would take ``key`` for (a float equal to one is the same key), when it fits the arrays;
    None for any other key (text, a fraction, None), which goes to the plain dict beside them."""
    if key.__class__ is int:
        value = key
    elif key.__class__ is float and key.is_integer():
        value = int(key)
    else:
        return None
    return value if _INT64[0] <= value <= _INT64[1] else None


class IdMap:
    """Legacy id -> our id, read as a dict is: ``get``, ``in``, ``[key]``, and ``get_many`` for a column of keys.

    A first import holds the map of every page of the land through its links, media and tags; as a dict of
    Python integers it costs some hundred bytes a page, as two sorted ``int64`` arrays sixteen. Writes are
    appended and merged into the arrays at the next read (the last write of a key wins, as in a dict), so a step
    that writes all its pages and then reads sorts once. The legacy file's ids are integers; any other key it may
    hold (text, a fraction) keeps a dict's meaning in a small dict of its own.
    """

    def __init__(self) -> None:
        self._keys = np.empty(0, dtype=np.int64)
        self._values = np.empty(0, dtype=np.int64)
        self._new_keys = array("q")
        self._new_values = array("q")
        self._others: dict[Any, int] = {}

    def __setitem__(self, key: Any, value: int) -> None:
        number = _as_int(key)
        if number is None:
            self._others[key] = value
        else:
            self._new_keys.append(number)
            self._new_values.append(value)

    def update(self, pairs: Iterable[tuple[Any, int]]) -> None:
        for key, value in pairs:
            self[key] = value

    def _merge(self) -> None:
        if not self._new_keys:
            return
        new_keys = np.frombuffer(self._new_keys, dtype=np.int64)
        new_values = np.frombuffer(self._new_values, dtype=np.int64)
        self._new_keys, self._new_values = array("q"), array("q")
        if not len(self._keys) and bool(np.all(new_keys[1:] > new_keys[:-1])):
            # Pages come in the order of their legacy ids: the arrays are the buffers written, without a copy.
            self._keys, self._values = new_keys, new_values
            return
        keys = np.concatenate((self._keys, new_keys))
        values = np.concatenate((self._values, new_values))
        # Stable: of a key written twice, the later write sorts last and is the one kept.
        order = np.argsort(keys, kind="stable")
        keys, values = keys[order], values[order]
        last = np.ones(len(keys), dtype=bool)
        last[:-1] = keys[1:] != keys[:-1]
        self._keys, self._values = keys[last], values[last]

    def __len__(self) -> int:
        self._merge()
        return len(self._keys) + len(self._others)

    def get(self, key: Any, default: int | None = None) -> int | None:
        number = _as_int(key)
        if number is None:
            return self._others.get(key, default)
        self._merge()
        at = int(np.searchsorted(self._keys, number))
        if at < len(self._keys) and self._keys[at] == number:
            return int(self._values[at])
        return default

    def __contains__(self, key: Any) -> bool:
        return self.get(key) is not None

    def __getitem__(self, key: Any) -> int:
        value = self.get(key)
        if value is None:
            raise KeyError(key)
        return value

    def get_many(self, keys: Sequence[Any]) -> list[int | None]:
        """``[self.get(key) for key in keys]``, in a few passes in C when the keys are integers."""
        if not all(key.__class__ is int for key in keys):
            return [self.get(key) for key in keys]
        self._merge()
        try:
            wanted = np.array(keys, dtype=np.int64)
        except OverflowError:
            return [self.get(key) for key in keys]
        if not len(self._keys):
            return [None] * len(wanted)
        at = np.minimum(np.searchsorted(self._keys, wanted), len(self._keys) - 1)
        found = np.where(self._keys[at] == wanted, self._values[at], _MISSING).tolist()
        return [None if value == _MISSING else value for value in found]

    def shared_keys(self) -> set[Any]:
        """The keys whose value is also another key's: legacy pages that share our page with another one."""
        self._merge()
        keys, values = self._keys, self._values
        if self._others:
            values = np.concatenate((values, np.fromiter(self._others.values(), dtype=np.int64)))
        ordered = np.sort(values)
        repeated = np.unique(ordered[1:][ordered[1:] == ordered[:-1]])
        if not len(repeated):
            return set()
        shared: set[Any] = set(keys[np.isin(self._values, repeated)].tolist())
        repeated_values = set(repeated.tolist())
        shared.update(key for key, value in self._others.items() if value in repeated_values)
        return shared
