"""The OpenAPI document tells the truth: schemathesis against the real stack.

Bounded and repeatable: a fixed seed, 10 examples per operation, one worker. Path
parameters name a real running run, so the run routes answer with bodies, not only 404s.
Streams are left out (they stay open by design). Checks: no 5xx, responses match their
schemas, status codes, content types and headers are the documented ones, and `Allow`
lists exactly the methods of the resource.
"""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import httpx

from tests.helpers.gateway import Gateway
from tests.helpers.http import execute

CHECKS = ("not_a_server_error", "response_schema_conformance", "status_code_conformance",
          "content_type_conformance", "response_headers_conformance", "allow_header_conformance",
          "unsupported_method")


async def test_schemathesis_finds_no_server_error_and_no_schema_violation(
        gateway: Gateway, http: httpx.AsyncClient, tmp_path: Path) -> None:
    workflow_id, run_id = await execute(http, "ConversationWorkflow", {})
    config = tmp_path / "schemathesis.toml"
    config.write_text(f'[parameters]\nworkflow_id = "{workflow_id}"\nrun_id = "{run_id}"\n')
    st = Path(sys.executable).parent / "st"
    process = await asyncio.create_subprocess_exec(
        str(st), "--config-file", str(config), "run", f"{gateway.url}/openapi.json",
        "-H", f"Authorization: Bearer {gateway.token()}", "--checks", ",".join(CHECKS),
        "--max-examples", "10", "--seed", "42",
        # One worker: with several threads, hypothesis's lambda descriptions call ast.parse concurrently,
        # which CPython 3.11 can fail with "AST constructor recursion depth mismatch".
        "--workers", "1", "--phases", "coverage,fuzzing",
        "--exclude-path-regex", "/stream$", "--request-timeout", "15", "--generation-database", "none",
        "--no-color", cwd=tmp_path, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), timeout=600)
    report = out.decode(errors="replace")
    figures = re.search(r"(\d+) generated, .*", report)
    print(f"schemathesis: {figures.group(0) if figures else 'no figures'}")  # for the record, with -s
    assert process.returncode == 0, report[-6000:]
    assert figures is not None and int(figures.group(1)) > 500, report[-2000:]
