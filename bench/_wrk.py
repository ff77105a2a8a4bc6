"""Running wrk with a generated Lua script and reading its figures back as a `LoadResult`.

The script cycles through a list of requests (path, optional JSON body with `{n}` replaced by
a per-thread counter), counts answers whose status is not the expected one, keeps the first
such answer for the report, and prints one JSON line from `done()`.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

MARK = "@@BENCH@@"


class WrkMissing(RuntimeError):
    pass


@dataclass
class LoadResult:
    """One load run's figures; the same shape for wrk and for the SDK load process."""

    client: str
    concurrency: int
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    errors: int = 0  # wrong status + socket errors + timeouts
    first_error: str | None = None
    extra: dict[str, int] = field(default_factory=dict)
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds per local process during the run
    wall: float = 0.0  # seconds the run took, start-up included (the base of CPU %)

    @property
    def accepted(self) -> int:
        """Requests answered with the expected status."""
        return self.requests - self.extra.get("bad", 0)

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds > 0 else 0.0


def wrk_binary() -> str:
    found = shutil.which("wrk")
    if not found:
        raise WrkMissing("wrk is not installed: `sudo apt-get install -y wrk` (Debian/Ubuntu), then run again")
    return found


def _lua_string(value: str) -> str:
    return json.dumps(value)  # a JSON string literal is a valid Lua string literal for ASCII


_LUA = r"""
local reqs = {
%(requests)s
}
local method = %(method)s
local headers = {
%(headers)s
}
local expected = %(expected)d
local threads = {}

function setup(thread)
  thread:set("tid", #threads)
  table.insert(threads, thread)
end

function init(args)
  counter = tid * 7919
  bad = 0
  first_bad = ""
end

function request()
  counter = counter + 1
  local r = reqs[(counter %% #reqs) + 1]
  local body = nil
  if r[2] ~= nil then
    body = string.gsub(r[2], "{n}", tostring(counter))
  end
  return wrk.format(method, r[1], headers, body)
end

function response(status, hdrs, body)
  if status ~= expected then
    bad = bad + 1
    if first_bad == "" then
      first_bad = tostring(status) .. " " .. string.sub(body or "", 1, 300)
    end
  end
end

local function esc(s)
  return (string.gsub(s, '[%%c"\\]', function(c)
    return string.format("\\u%%04x", string.byte(c))
  end))
end

function done(summary, latency, requests)
  local bad_total = 0
  local first = ""
  for _, t in ipairs(threads) do
    bad_total = bad_total + (t:get("bad") or 0)
    local f = t:get("first_bad") or ""
    if first == "" and f ~= "" then first = f end
  end
  local e = summary.errors
  io.write(string.format(
    '%(mark)s{"requests":%%d,"duration_us":%%d,"p50_us":%%d,"p99_us":%%d,"max_us":%%d,' ..
    '"connect":%%d,"read":%%d,"write":%%d,"status":%%d,"timeout":%%d,"bad":%%d,"first_bad":"%%s"}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, bad_total, esc(first)))
end
"""


def write_script(directory: Path, name: str, *, method: str, requests: Sequence[tuple[str, str | None]],
                 headers: Mapping[str, str], expected: int) -> Path:
    lines = ",\n".join(
        f"  {{{_lua_string(path)}, {_lua_string(body) if body is not None else 'nil'}}}" for path, body in requests
    )
    header_lines = ",\n".join(f"  [{_lua_string(k)}] = {_lua_string(v)}" for k, v in headers.items())
    path = directory / f"{name}.lua"
    path.write_text(_LUA % {
        "requests": lines, "method": _lua_string(method), "headers": header_lines,
        "expected": expected, "mark": MARK,
    })
    return path


def run_wrk(client: str, base_url: str, script: Path, *, connections: int, seconds: float,
            threads: int | None = None, timeout_s: float = 10) -> LoadResult:
    threads = threads or min(2, connections)
    argv = [wrk_binary(), "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
            "--timeout", f"{timeout_s:g}s", "-s", str(script), base_url]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=seconds + timeout_s + 30)
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)), None)
    if proc.returncode != 0 or line is None:
        raise RuntimeError(f"wrk failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    data = json.loads(line[len(MARK):])
    socket_errors = data["connect"] + data["read"] + data["write"] + data["timeout"]
    first = data["first_bad"] or None
    if first is None and socket_errors:
        first = (f"socket errors: connect {data['connect']}, read {data['read']}, "
                 f"write {data['write']}, timeout {data['timeout']}")
    return LoadResult(
        client=client, concurrency=connections, requests=data["requests"],
        seconds=data["duration_us"] / 1e6, p50_ms=data["p50_us"] / 1000, p99_ms=data["p99_us"] / 1000,
        errors=data["bad"] + socket_errors, first_error=first,
        extra={"bad": data["bad"], "non_2xx_3xx": data["status"], "timeouts": data["timeout"]},
    )


def temp_dir() -> tempfile.TemporaryDirectory[str]:
    return tempfile.TemporaryDirectory(prefix="signalway-wrk-")
