"""Redis URLs: `signalway.redis_connect`'s reading of `redis+cluster://` URLs, and what
`CommonSettings` accepts as `redis_url` and makes of it (the default trigger bucket count)."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from signalway.redis_connect import ClusterAddress, is_cluster_url, parse_cluster
from signalway.settings import CommonSettings


def test_cluster_hosts_take_their_own_port_or_6379() -> None:
    assert parse_cluster("redis+cluster://10.0.0.1:7000,node-b,node-c:7002") == ClusterAddress(
        nodes=[("10.0.0.1", 7000), ("node-b", 6379), ("node-c", 7002)], username=None, password=None, tls=False)
    assert parse_cluster("redis+cluster://one").nodes == [("one", 6379)]


def test_ipv6_hosts_are_read_from_their_brackets() -> None:
    assert parse_cluster("redis+cluster://[::1]:7000,[fe80::2],h3:7002").nodes == [
        ("::1", 7000), ("fe80::2", 6379), ("h3", 7002)]
    assert parse_cluster("redis+cluster://h1:7000,[2001:db8::7]:7001").nodes == [("h1", 7000), ("2001:db8::7", 7001)]


def test_credentials_are_percent_decoded_and_apply_to_every_node() -> None:
    address = parse_cluster("redis+cluster://app%40team:p%3Ass%2Fw%40rd%25@h1:7000,h2:7001")
    assert (address.username, address.password) == ("app@team", "p:ss/w@rd%")
    assert address.nodes == [("h1", 7000), ("h2", 7001)]
    password_only = parse_cluster("redis+cluster://:s3cret@h1")
    assert (password_only.username, password_only.password, password_only.nodes) == (None, "s3cret", [("h1", 6379)])


def test_rediss_cluster_means_tls_and_db_0_is_the_only_db() -> None:
    assert parse_cluster("rediss+cluster://h1:7000").tls is True
    assert parse_cluster("redis+cluster://h1:7000").tls is False
    assert parse_cluster("redis+cluster://h1:7000/").nodes == parse_cluster("redis+cluster://h1:7000/0").nodes
    with pytest.raises(ValueError, match="names a database") as refused:
        parse_cluster("redis+cluster://h1:7000/2")
    assert "redis+cluster://h1:7000/2" in str(refused.value)


@pytest.mark.parametrize("url", [
    "redis+cluster://",
    "redis+cluster://h1,,h2",
    "redis+cluster://h1:70x0",
    "redis+cluster://h1:",
    "redis+cluster://:pw@",
    "rediss+cluster://h1:7000,h2:port",
])
def test_an_empty_host_or_a_port_that_is_no_number_is_refused_naming_the_url(url: str) -> None:
    with pytest.raises(ValueError, match="cannot read") as refused:
        parse_cluster(url)
    assert repr(url) in str(refused.value)


def test_only_cluster_schemes_are_cluster_urls() -> None:
    assert is_cluster_url("redis+cluster://h1:7000")
    assert is_cluster_url("rediss+cluster://h1:7000,h2:7001")
    for url in ("redis://h1:6379/0", "rediss://h1:6379/0", "redis+sentinel://h1:26379/mymaster/0",
                "unix:///tmp/redis.sock", "http://h1", "h1:7000"):
        assert not is_cluster_url(url), url
    with pytest.raises(ValueError, match="not a cluster URL"):
        parse_cluster("redis://h1:6379/0")


@pytest.mark.parametrize("url", [
    "redis://127.0.0.1:6379/0",
    "rediss://:secret@redis.example:6380/2",
    "unix:///run/redis.sock",
    "redis+sentinel://:pw@s1:26379,s2/mymaster/1",
    "rediss+sentinel://s1/mymaster",
    "redis+cluster://h1:7000,h2:7001,[::1]:7002",
    "rediss+cluster://user:pw@h1:7000",
])
def test_settings_accept_every_kind_of_redis_url(url: str) -> None:
    assert CommonSettings(redis_url=url).redis_url == url


@pytest.mark.parametrize(("url", "complaint"), [
    ("http://x", "expected a redis://"),
    ("x", "expected a redis://"),
    ("redis+cluster://h1:7000,h2:port", "cannot read"),
    ("redis+cluster://h1:7000/3", "names a database"),
    ("redis+sentinel://s1:26379", "service name"),
])
def test_settings_refuse_other_or_malformed_urls(url: str, complaint: str) -> None:
    with pytest.raises(ValidationError, match=complaint) as refused:
        CommonSettings(redis_url=url)
    assert [error["loc"] for error in refused.value.errors()] == [("redis_url",)]


def test_trigger_buckets_default_to_16_on_a_cluster_and_1_otherwise() -> None:
    assert CommonSettings(redis_url="redis+cluster://h1:7000").trigger_buckets == 16
    assert CommonSettings(redis_url="rediss+cluster://h1:7000").trigger_buckets == 16
    assert CommonSettings().trigger_buckets == 1
    assert CommonSettings(redis_url="redis+sentinel://s1/mymaster/0").trigger_buckets == 1


def test_trigger_shards_override_the_default_on_any_redis() -> None:
    assert CommonSettings(trigger_shards=4, redis_url="redis+cluster://h1:7000").trigger_buckets == 4
    assert CommonSettings(trigger_shards=4).trigger_buckets == 4
    assert CommonSettings(trigger_shards=1, redis_url="redis+cluster://h1:7000").trigger_buckets == 1
    for out_of_range in (0, 1025):
        with pytest.raises(ValidationError, match="trigger_shards"):
            CommonSettings(trigger_shards=out_of_range)


def test_trigger_shards_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIGNALWAY_REDIS_URL", "redis+cluster://h1:7000")
    assert CommonSettings().trigger_buckets == 16
    monkeypatch.setenv("SIGNALWAY_TRIGGER_SHARDS", "4")
    assert CommonSettings().trigger_buckets == 4
