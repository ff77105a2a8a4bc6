"""Processes reach Redis through Sentinel with a `redis+sentinel://` URL (a real sentinel)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from signalway.localstack import ManagedProcess, free_port, redis_binary, start_redis, wait_port
from signalway.redis_connect import close, connect, parse_sentinel
from signalway.updates import UpdateStore


def test_sentinel_urls_name_hosts_service_and_db() -> None:
    assert parse_sentinel("redis+sentinel://:s3cret@h1:26380,h2/mymaster/2") == (
        [("h1", 26380), ("h2", 26379)], "mymaster", 2, "s3cret", False)
    assert parse_sentinel("rediss+sentinel://h1/main")[1:] == ("main", 0, None, True)
    with pytest.raises(ValueError, match="service name"):
        parse_sentinel("redis+sentinel://h1:26379")


@pytest.fixture
def sentinel(tmp_path: Path) -> Iterator[str]:
    master_port, sentinel_port = free_port(), free_port()
    master = start_redis(tmp_path / "master", port=master_port, persistent=False)
    config = tmp_path / "sentinel.conf"
    config.write_text(
        f"port {sentinel_port}\nbind 127.0.0.1\nprotected-mode yes\ndir {tmp_path}\n"
        f"sentinel monitor mymaster 127.0.0.1 {master_port} 1\n"
        "sentinel down-after-milliseconds mymaster 1000\n"
    )
    process = ManagedProcess("sentinel", [redis_binary(), str(config), "--sentinel"],
                             log_path=tmp_path / "sentinel.log")
    try:
        wait_port("127.0.0.1", sentinel_port, timeout=20, process=process)
        yield f"redis+sentinel://127.0.0.1:{sentinel_port}/mymaster/0"
    finally:
        process.stop()
        master.stop()


async def test_updates_work_through_sentinel(sentinel: str) -> None:
    redis = connect(sentinel, socket_timeout=5)
    try:
        assert await redis.ping()
        store = UpdateStore(redis)
        first = await store.publish("run-s", type="PROGRESS", message="via sentinel")
        assert first == 1
        assert [m.id for m in await store.since("run-s", 0)] == [1]
    finally:
        await close(redis)
