"""Bounded in-process caches, each held by an owner: the `Database` it remembers rows of
(`database.caches`), or the loaded `Bank` it derives from (`bank.derived`).

A module that fills a database-keyed cache declares it once, as a `CacheSlot` (name, bound and
types), and reaches this database's own instance with `database.caches[SLOT]`. So two databases
never share an entry (the caches used to be module-level, keyed by the database URL), and a test
empties everything a process remembers about a database with `database.clear_caches()`.
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, Generic, TypeVar

from sqlalchemy.orm import Session

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most `maxsize` entries; storing one more forgets the least recently used.

    Our own, thirty lines over `OrderedDict`, rather than a library: `functools.lru_cache`
    memoises one function (no `put` of a value computed elsewhere, no forgetting one person's
    entries, one cache per function rather than per database), and `cachetools.LRUCache` is a
    new dependency that is not thread-safe either (it would sit behind the same lock) and spends
    several Python-level calls per lookup where this spends one C-level `OrderedDict` call: the
    exam-day answer save looks up its paper here on every call.

    Thread-safe: `get` and every change take one lock, for O(1) dictionary work (`discard_where`
    and `clear` excepted); `in` takes no lock and does not count as a use.
    """

    __slots__ = ("__weakref__", "_data", "_lock", "maxsize")

    def __init__(self, maxsize: int) -> None:
        if maxsize < 1:
            raise ValueError("an LRU cache holds at least one entry")
        self.maxsize = maxsize
        self._data: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def __contains__(self, key: object) -> bool:
        """Whether `key` is held (one dictionary lookup: no lock, the entry is not refreshed)."""
        return key in self._data

    def __len__(self) -> int:
        return len(self._data)

    def get(self, key: K) -> V | None:
        """The value for `key`, now the most recently used; None if not held."""
        with self._lock:
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, key: K, value: V) -> None:
        """Hold `value` as the most recently used; past `maxsize`, forget the least recently used."""
        with self._lock:
            self._data[key] = value
            self._data.move_to_end(key)
            if len(self._data) > self.maxsize:
                self._data.popitem(last=False)

    def keys(self) -> list[K]:
        """The keys, least recently used first (a copy)."""
        with self._lock:
            return list(self._data)

    def discard_where(self, doomed: Callable[[K, V], bool]) -> None:
        """Forget every entry for which `doomed(key, value)` is true (a scan: not for hot paths)."""
        with self._lock:
            for key in [key for key, value in self._data.items() if doomed(key, value)]:
                del self._data[key]

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._data.clear()


class CacheSlot(Generic[K, V]):
    """One kind of cache, declared by the module that fills it: every `Caches` (every database)
    makes its own bounded instance on first use."""

    __slots__ = ("_instances", "_lock", "maxsize", "name")

    def __init__(self, name: str, maxsize: int) -> None:
        self.name = name
        self.maxsize = maxsize
        self._instances: weakref.WeakSet[LRU[K, V]] = weakref.WeakSet()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"CacheSlot({self.name!r}, {self.maxsize})"

    def new(self) -> LRU[K, V]:
        cache: LRU[K, V] = LRU(self.maxsize)
        with self._lock:
            self._instances.add(cache)
        return cache

    def instances(self) -> list[LRU[K, V]]:
        """This slot's cache in every live owner of this process (to forget something everywhere,
        as when a person's account changes)."""
        with self._lock:
            return list(self._instances)


class Caches:
    """The caches one owner holds, one per slot, made on first use: `caches[SLOT]`."""

    __slots__ = ("_by_slot",)

    def __init__(self) -> None:
        self._by_slot: dict[CacheSlot[Any, Any], LRU[Any, Any]] = {}

    def __getitem__(self, slot: CacheSlot[K, V]) -> LRU[K, V]:
        cache = self._by_slot.get(slot)
        if cache is None:  # first use; setdefault keeps one if two threads race here
            cache = self._by_slot.setdefault(slot, slot.new())
        return cache

    def clear(self) -> None:
        """Empty every cache (they stay bound to their slots)."""
        for cache in list(self._by_slot.values()):
            cache.clear()


def caches_of(session: Session) -> Caches:
    """The caches of the database a session belongs to (`Database` puts them in every session's
    `info`); a session made some other way gets empty ones that remember nothing past the call."""
    caches = session.info.get("caches")
    return caches if isinstance(caches, Caches) else Caches()
