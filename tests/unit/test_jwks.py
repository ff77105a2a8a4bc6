"""The JWKS pieces that need no network: the key table, the cache policy, the fetch gate."""

from typing import Any

import pytest

from signalway.gateway.jwks import MAX_LIFETIME, FetchGate, cache_lifetime, key_table
from tests.helpers.identity import ec_key, ed25519_key, rsa_key

RSA = rsa_key("rs", publish_alg=False)


def test_keys_are_indexed_by_kid_then_algorithm() -> None:
    ps, es, ed = rsa_key("ps", "PS256"), ec_key("es"), ed25519_key("ed")
    table, skipped = key_table({"keys": [RSA.jwk, ps.jwk, es.jwk, ed.jwk]})
    assert skipped == []
    # A key that names its algorithm verifies that one only; one that does not, its family.
    assert set(table["ps"]) == {"PS256"}
    assert set(table["rs"]) == {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"}
    assert set(table["es"]) == {"ES256"}
    assert set(table["ed"]) == {"EdDSA"}
    assert table["es"]["ES256"].algorithm_name == "ES256"


def test_a_key_without_kid_is_filed_under_none() -> None:
    jwk = {k: v for k, v in RSA.jwk.items() if k != "kid"}
    table, _ = key_table({"keys": [jwk]})
    assert set(table) == {None}


@pytest.mark.parametrize(
    ("jwk", "reason"),
    [
        ({"kty": "oct", "k": "c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNlY3JldA", "kid": "sym"}, "'oct'"),
        ({"kty": "oct", "k": "c2VjcmV0", "kid": "sym", "alg": "HS256"}, "'HS256'"),
        ({**RSA.jwk, "kid": "enc", "use": "enc"}, "use is 'enc'"),
        ({**RSA.jwk, "kid": "none", "alg": "none"}, "'none'"),
        ({**RSA.jwk, "kid": "wrong", "alg": "ES256"}, "InvalidKeyError"),  # alg and key type disagree
        ({**RSA.jwk, "kid": 7}, "kid is not a string"),
        ({"kty": "EC", "crv": "secp256k1", "kid": "k1", "x": "AA", "y": "AA"}, "'EC'"),
        ("not a key", "not an object"),
    ],
)
def test_unusable_keys_are_skipped_with_a_reason(jwk: Any, reason: str) -> None:
    table, skipped = key_table({"keys": [jwk, RSA.jwk]})
    assert list(table) == ["rs"]
    assert len(skipped) == 1 and reason in skipped[0], skipped


@pytest.mark.parametrize("document", [[], {"keys": {}}, {"no": "keys"}, "x"])
def test_a_document_that_is_not_a_key_set_is_refused(document: Any) -> None:
    with pytest.raises(ValueError, match="not a JWK Set"):
        key_table(document)


@pytest.mark.parametrize(
    ("cache_control", "age", "seconds"),
    [
        ("public, max-age=600", None, 600),
        ("max-age=600", "100", 500),
        ('max-age="600"', None, 600),
        ("public, max-age=15, stale-while-revalidate=15", None, 30),  # Auth0's: raised to the floor
        ("no-cache", None, 30),
        ("no-store", None, 30),
        ("max-age=31536000", None, MAX_LIFETIME),  # a year: capped at a day
        ("max-age=600", "900", 30),
        (None, None, 300),  # no header: the default
        ("max-age=junk", None, 300),
    ],
)
def test_cache_lifetime_follows_max_age_within_floor_and_ceiling(cache_control: str | None, age: str | None,
                                                                  seconds: float) -> None:
    assert cache_lifetime(cache_control, age, floor=30) == seconds


def test_the_floor_wins_over_a_lower_ceiling() -> None:
    assert cache_lifetime("max-age=10", None, floor=120, ceiling=60) == 120


def test_the_gate_allows_one_fetch_per_interval() -> None:
    now = [1000.0]
    gate = FetchGate(10, clock=lambda: now[0])
    assert gate.allow()
    assert [gate.allow() for _ in range(100)] == [False] * 100
    now[0] += 9.9
    assert not gate.allow()
    now[0] += 0.1
    assert gate.allow()
    assert gate.next_allowed() == 1020.0
