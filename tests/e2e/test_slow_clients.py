"""Slow and flooding clients cost the gateway little, so do lists of large triggers, its text
log cannot be forged, and the per-caller bound counts a caller once however its credential is
spelled — against a gateway
process of this module's own (access log on, text format, a short head timeout, one request
in flight per caller)."""

from __future__ import annotations

import asyncio
import re
import secrets
import socket
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import redis.asyncio as aioredis

from signalway.localstack import ManagedProcess, free_port
from signalway.tokens import mint
from signalway.triggers import TriggerStore, now_us
from tests.helpers.gateway import gateway_env
from tests.helpers.http import wait_ready
from tests.helpers.polling import log_text
from tests.helpers.stack import Stack

HEADER_TIMEOUT = 2.0
MAX_HEADER_BYTES = 32_768
MAX_REQUEST_LINE_BYTES = 8192


@dataclass(frozen=True)
class OwnGateway:
    port: int
    secret: str
    log_path: Path
    process: ManagedProcess

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_kib(self) -> int:
        """The gateway process's resident memory, from /proc."""
        status = Path(f"/proc/{self.process.popen.pid}/status").read_text()
        return int(re.search(r"^VmRSS:\s+(\d+) kB", status, re.M).group(1))  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def own(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[OwnGateway]:
    port, secret = free_port(), secrets.token_urlsafe(32)
    env = gateway_env(stack, port, secret, "", SIGNALWAY_ACCESS_LOG="true", SIGNALWAY_LOG_FORMAT="text",
                      SIGNALWAY_HEADER_TIMEOUT_SECONDS=str(HEADER_TIMEOUT),
                      SIGNALWAY_MAX_HEADER_BYTES=str(MAX_HEADER_BYTES),
                      SIGNALWAY_MAX_REQUEST_LINE_BYTES=str(MAX_REQUEST_LINE_BYTES),
                      SIGNALWAY_MAX_IN_FLIGHT_PER_PRINCIPAL="1")
    del env["SIGNALWAY_JWT_PUBLIC_KEY"]
    log_path = tmp_path_factory.mktemp("slow-clients") / "gateway.log"
    process = ManagedProcess("slow-clients-gateway", [sys.executable, "-m", "signalway", "gateway"],
                             env=env, log_path=log_path)
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
        yield OwnGateway(port, secret, log_path, process)
    finally:
        process.stop()


def _connect(own: OwnGateway) -> socket.socket:
    return socket.create_connection(("127.0.0.1", own.port), timeout=30)


def _read_all(sock: socket.socket, deadline: float) -> bytes:
    """What the server sends until it closes the connection (or the deadline passes)."""
    data = b""
    while time.monotonic() < deadline:
        sock.settimeout(max(0.05, deadline - time.monotonic()))
        try:
            chunk = sock.recv(65536)
        except TimeoutError:
            break
        except ConnectionResetError:
            break
        if not chunk:
            return data + b"<closed>"
        data += chunk
    return data


# -- slow clients ----------------------------------------------------------------------------


async def test_a_head_trickled_line_by_line_is_cut_at_the_head_timeout(own: OwnGateway) -> None:
    def trickle() -> tuple[float, bytes]:
        with _connect(own) as sock:
            started = time.monotonic()
            sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: gateway\r\n")
            answer = b""
            # One header line every 0.5 s, for up to 30 s: each is a byte of progress, none
            # ever finishes the head.
            for n in range(60):
                try:
                    sock.sendall(f"X-Trickle-{n}: still here\r\n".encode())
                except OSError:
                    break
                answer += _read_all(sock, time.monotonic() + 0.5)
                if answer.endswith(b"<closed>"):
                    break
            return time.monotonic() - started, answer

    cut_after, answer = await asyncio.to_thread(trickle)
    print(f"trickled head cut after {cut_after:.2f}s (timeout {HEADER_TIMEOUT}s)")
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert answer.endswith(b"<closed>")
    # The promise is the timeout; the margin is for a loaded machine.
    assert HEADER_TIMEOUT - 0.1 <= cut_after < HEADER_TIMEOUT + 8, cut_after


async def test_a_connection_that_sends_nothing_is_closed_at_the_head_timeout(own: OwnGateway) -> None:
    def idle() -> tuple[float, bytes]:
        with _connect(own) as sock:
            started = time.monotonic()
            answer = _read_all(sock, started + 30)
            return time.monotonic() - started, answer

    cut_after, answer = await asyncio.to_thread(idle)
    assert answer.endswith(b"<closed>") and cut_after < HEADER_TIMEOUT + 8, (cut_after, answer[:200])


async def test_a_kept_alive_connection_still_serves_requests(own: OwnGateway) -> None:
    async with httpx.AsyncClient(base_url=own.url, timeout=30) as http:
        for _ in range(3):
            assert (await http.get("/healthz")).status_code == 200
            await asyncio.sleep(HEADER_TIMEOUT / 4)


# -- flooding clients ------------------------------------------------------------------------


def _flood(own: OwnGateway, head: bytes, filler: bytes, total: int) -> tuple[int, bytes, int]:
    """Send `head` then `filler` up to `total` bytes; (bytes the gateway took, its answer, peak RSS KiB)."""
    sent, peak = 0, own.rss_kib()
    with _connect(own) as sock:
        try:
            sock.sendall(head)
            sent = len(head)
            chunk = filler * (1024 * 1024 // len(filler))
            while sent < total:
                sock.sendall(chunk)
                sent += len(chunk)
                if sent % (8 * 1024 * 1024) < len(chunk):
                    peak = max(peak, own.rss_kib())
        except OSError:
            pass  # the gateway closed the connection: what a flood should meet
        answer = _read_all(sock, time.monotonic() + 10)
    return sent, answer, max(peak, own.rss_kib())


@pytest.mark.parametrize(("what", "head", "filler", "status"), [
    ("headers", b"GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Flood: ", b"a", b"431"),
    ("request line", b"GET /healthz?", b"a", b"414"),
])
async def test_a_flood_costs_at_most_the_head_cap(own: OwnGateway, what: str, head: bytes, filler: bytes,
                                                  status: bytes) -> None:
    before = own.rss_kib()
    sent, answer, peak = await asyncio.to_thread(_flood, own, head, filler, 200 * 1024 * 1024)
    grown_mib = (peak - before) / 1024
    print(f"{what} flood: {sent / 1e6:.1f} MB sent before the gateway closed; RSS {before // 1024} MiB -> "
          f"peak {peak // 1024} MiB (+{grown_mib:.1f} MiB)")
    assert answer.startswith(b"HTTP/1.1 " + status + b" "), answer[:200]
    assert grown_mib < 16, f"the gateway grew by {grown_mib:.1f} MiB"
    async with httpx.AsyncClient(base_url=own.url, timeout=30) as http:
        assert (await http.get("/healthz")).status_code == 200


# -- logs ------------------------------------------------------------------------------------


async def test_a_forged_line_in_a_path_stays_on_its_own_line(own: OwnGateway) -> None:
    marker = secrets.token_hex(6)
    forged = f"2026-12-07 14:30:00,000 INFO signalway.access [-] POST /api/v1/FORGED-{marker} 200 1.0ms"
    target = "/nope-" + marker + "%0a" + forged.replace(" ", "%20") + "%0d%0a%1b[31m"

    def send() -> bytes:
        with _connect(own) as sock:
            sock.sendall(f"GET {target} HTTP/1.1\r\nHost: gateway\r\nConnection: close\r\n\r\n".encode())
            return _read_all(sock, time.monotonic() + 10)

    answer = await asyncio.to_thread(send)
    assert answer.startswith(b"HTTP/1.1 404 "), answer[:200]
    text = await log_text(own.log_path, f"FORGED-{marker}")
    lines = [line for line in text.splitlines() if f"FORGED-{marker}" in line]
    assert lines, text[-2000:]
    for line in lines:
        # Only ever inside the gateway's own line for the request, never a line of its own.
        assert f"/nope-{marker}" in line and not line.startswith("2026-12-07 14:30:00,000"), line
        assert "\x1b" not in line and "\r" not in line, repr(line)


# -- the per-caller bound ---------------------------------------------------------------------


async def test_the_per_caller_bound_counts_a_caller_once_however_the_credential_is_spelled(
        own: OwnGateway) -> None:
    token = mint(own.secret, project="alpha", user="spelled", ttl_seconds=600)

    def hold_a_slot() -> socket.socket:
        # A request whose body never comes holds the caller's one slot (until the request timeout).
        sock = _connect(own)
        sock.sendall(f"POST /api/v1/workflows/runs HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer {token}\r\n"
                     f"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{{".encode())
        return sock

    held = await asyncio.to_thread(hold_a_slot)
    try:
        await asyncio.sleep(0.5)
        async with httpx.AsyncClient(base_url=own.url, timeout=30) as http:
            for spelling in (f"Bearer {token}", f"bearer {token}", f"BEARER {token}", f"Bearer  {token}",
                             f"Bearer\t{token}"):
                answer = await http.get("/api/v1/durable/workflows", headers={"Authorization": spelling})
                assert answer.status_code == 429, f"{spelling!r}: {answer.status_code} {answer.text}"
            by_query = await http.get(f"/api/v1/workflows/runs/x/y/stream?access_token={token}&z=1")
            assert by_query.status_code == 429, by_query.text
            # Another caller is not held up by this one.
            other = mint(own.secret, project="alpha", user="someone-else", ttl_seconds=600)
            answer = await http.get("/api/v1/durable/workflows", headers={"Authorization": f"Bearer {other}"})
            assert answer.status_code == 200, answer.text
    finally:
        held.close()


# -- reads bounded by bytes -------------------------------------------------------------------


class RssPeak:
    """The gateway's peak resident memory while a block runs, sampled from /proc every 5 ms."""

    def __init__(self, own: OwnGateway) -> None:
        self.own, self.before, self.peak = own, own.rss_kib(), 0
        self._done = threading.Event()

    def __enter__(self) -> RssPeak:
        self._thread = threading.Thread(target=self._sample)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._done.wait(0.005):
            self.peak = max(self.peak, self.own.rss_kib())

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()
        self.peak = max(self.peak, self.own.rss_kib())

    @property
    def grown_mib(self) -> float:
        return (self.peak - self.before) / 1024


PAYLOAD_BYTES = 100_000


async def test_a_page_of_500_large_triggers_costs_a_bounded_amount_of_memory(own: OwnGateway, stack: Stack) -> None:
    project = f"big-{secrets.token_hex(4)}"
    redis = aioredis.Redis.from_url(stack.redis_url)
    store = TriggerStore(redis)
    blob = {"blob": "x" * PAYLOAD_BYTES}
    for n in range(500):
        now = now_us()
        await store.register(project=project, id=f"t-{n:03d}", event_key=f"big:{n:03d}", source_type="job_run",
                             workflow_id=None, run_id=None, step_run_id=None, job_run_id="j",
                             request_payload=blob, timeout_secs=3600, requested_us=now,
                             expires_us=now + 3_600_000_000)
    headers = {"Authorization": f"Bearer {mint(own.secret, project=project, user='lister', ttl_seconds=600)}"}
    try:
        async with httpx.AsyncClient(base_url=own.url, timeout=60, headers=headers) as http:
            with RssPeak(own) as memory:
                first = await http.get("/v1/events", params={"limit": 500})
                dry = await http.post("/v1/events/prefix/big:/send", params={"dry_run": "true"}, json={})
            assert first.status_code == 200 and dry.status_code == 200, (first.text[:300], dry.text[:300])
            page = first.json()
            print(f"one page of /v1/events?limit=500 over 500 triggers of {PAYLOAD_BYTES // 1000} kB: "
                  f"{len(page['data'])} items, {len(first.content) / 1e6:.1f} MB; prefix dry run: "
                  f"{len(dry.json()['triggers'])} of {dry.json()['would_resolve']} listed, "
                  f"{len(dry.content) / 1e6:.1f} MB; gateway RSS {memory.before // 1024} MiB -> peak "
                  f"{memory.peak // 1024} MiB (+{memory.grown_mib:.1f} MiB)")
            assert memory.grown_mib < 24, f"the gateway grew by {memory.grown_mib:.1f} MiB"
            assert len(first.content) < 4 * 1024 * 1024 and len(dry.content) < 4 * 1024 * 1024
            assert dry.json()["would_resolve"] == 500
            # Nothing is lost to the bound: the cursor walks every trigger, payloads whole.
            seen: list[str] = []
            while True:
                assert all(t["request_payload"] == blob for t in page["data"])
                seen += [t["event_key"] for t in page["data"]]
                if not page["has_more"]:
                    break
                page = (await http.get("/v1/events", params={"limit": 500, "cursor": page["next_cursor"]})).json()
            assert sorted(seen) == [f"big:{n:03d}" for n in range(500)]
    finally:
        await store.purge(project, older_than_us=now_us() + 10**12, dry_run=False)
        async for key in redis.scan_iter(match=f"signalway:trg:{{{project}}}:*"):
            await redis.delete(key)
        await redis.aclose()
