"""The process caches: one bounded LRU type, held by its owner (a database, a bank), so that two
databases never share an entry and a test can empty what a process remembers."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi import FastAPI

from tests.conftest import make_person
from trainer.caching import LRU, CacheSlot
from trainer.content.bank import Bank
from trainer.db import Database, utcnow
from trainer.people import auth


def test_an_lru_keeps_its_bound_and_forgets_the_least_recently_used() -> None:
    cache: LRU[str, int] = LRU(3)
    for n, key in enumerate("abc"):
        cache.put(key, n)
    assert cache.keys() == ["a", "b", "c"]
    assert cache.get("a") == 0  # a use: "a" is now the most recent
    assert "b" in cache  # a look, not a use
    cache.put("d", 3)
    assert cache.keys() == ["c", "a", "d"]  # "b" was the least recently used
    assert len(cache) == 3
    assert cache.get("b") is None
    cache.put("c", 20)  # storing again is a use too
    cache.put("e", 4)
    assert cache.keys() == ["d", "c", "e"]
    assert cache.get("c") == 20
    cache.discard_where(lambda key, value: value > 10)
    assert cache.keys() == ["d", "e"]
    cache.clear()
    assert len(cache) == 0
    with pytest.raises(ValueError, match="at least one"):
        LRU(0)


def test_two_databases_never_share_a_cache_entry(tmp_path: Path) -> None:
    slot: CacheSlot[int, str] = CacheSlot("test", 2)
    first = Database(f"sqlite:///{tmp_path / 'first.db'}")
    second = Database(f"sqlite:///{tmp_path / 'second.db'}")
    try:
        first.caches[slot].put(1, "first's")
        assert first.caches[slot].get(1) == "first's"
        assert 1 not in second.caches[slot]
        second.caches[slot].put(1, "second's")
        assert first.caches[slot].get(1) == "first's"
        assert first.caches[slot] is not second.caches[slot]
        assert first.caches[slot].maxsize == 2
        assert set(slot.instances()) == {first.caches[slot], second.caches[slot]}
        first.clear_caches()
        assert 1 not in first.caches[slot]
        assert second.caches[slot].get(1) == "second's"
    finally:
        first.dispose()
        second.dispose()


def test_remembered_sign_ins_belong_to_their_database_and_are_forgotten_everywhere(
    app: FastAPI, migrated_database: Database, tmp_path: Path
) -> None:
    """Through the real credential cache: a session checked on one database is not remembered
    for another (the cache was once keyed by URL in one module-level dict); an account change
    forgets the person in every database's cache; `clear_caches` forgets all."""
    settings = app.state.settings
    other = Database(f"sqlite:///{tmp_path / 'other.db'}")
    try:
        now = utcnow()
        person = make_person(migrated_database, "inspector")
        result = auth.login(
            migrated_database, settings, person.username, person.password, ip="10.0.0.1", now=now
        )
        assert result.token is not None
        viewer = auth.load_session(migrated_database, settings, result.token, now)
        assert auth.remembered_session(migrated_database, settings, result.token, now) == viewer
        assert auth.remembered_session(other, settings, result.token, now) is None

        auth.load_session(migrated_database, settings, result.token, now)
        auth.forget_user(person.id)
        assert auth.remembered_session(migrated_database, settings, result.token, now) is None

        auth.load_session(migrated_database, settings, result.token, now)
        assert auth.remembered_session(migrated_database, settings, result.token, now) == viewer
        migrated_database.clear_caches()
        assert auth.remembered_session(migrated_database, settings, result.token, now) is None
    finally:
        other.dispose()


def test_a_bank_owns_its_bounded_derived_cache() -> None:
    one, two = Bank(), Bank()
    one.derived.put("q1", {"entry": {}})
    assert "q1" not in two.derived
    assert one.derived.maxsize >= 10_000
    one.derived.clear()
    assert "q1" not in one.derived
