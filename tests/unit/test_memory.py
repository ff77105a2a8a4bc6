"""gateway.adapters.memory: what a gateway remembers stays within its bounds."""

from __future__ import annotations

from signalway.gateway.adapters.memory import ByteBudget, TtlLru


def test_a_byte_budget_drops_the_least_recently_used_until_it_fits() -> None:
    kept = ByteBudget(800)
    for key in "abcd":
        assert kept.put(key, key * 100, 100)
    assert kept.get("a") == "a" * 100  # "a" is now the most recently used
    for key in "efgh":
        kept.put(key, key, 100)
    assert kept.used == 800 and len(kept) == 8
    kept.put("i", "i", 100)
    assert kept.used == 800
    assert kept.get("b") is None  # the least recently used went first
    assert kept.get("a") is not None and kept.get("i") == "i"


def test_a_byte_budget_refuses_what_alone_takes_over_an_eighth_and_counts_a_replaced_value_once() -> None:
    kept = ByteBudget(800)
    assert not kept.put("huge", "x", 101)
    assert kept.get("huge") is None and kept.used == 0
    kept.put("a", "one", 60)
    kept.put("a", "two", 40)
    assert kept.used == 40 and kept.get("a") == "two"


def test_a_ttl_lru_forgets_past_its_size_and_its_time(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    now = [1000.0]
    monkeypatch.setattr("signalway.gateway.adapters.temporal.time.monotonic", lambda: now[0])
    cache = TtlLru(ttl=60, size=2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.get("a")
    cache.put("c", 3)
    assert cache.get("b") is None and cache.get("a") == 1 and len(cache) == 2
    now[0] += 61
    assert cache.get("a") is None and cache.get("c") is None
