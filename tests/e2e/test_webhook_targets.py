"""A start whose webhook target the worker would refuse is refused up front, on both surfaces."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.helpers.http import DURABLE, WORKFLOWS, assert_problem

# The e2e gateway allows 127.0.0.1/32 only (a local receiver for the resume tests).
REFUSED = [
    "http://127.0.0.2:6379/x",            # loopback outside the allowed /32
    "http://10.1.2.3/hook",               # RFC 1918
    "http://169.254.169.254/latest/meta-data",  # cloud metadata
    "http://[::1]:8000/hook",             # IPv6 loopback
    "http://[::ffff:10.0.0.1]/hook",      # IPv4-mapped private
    "http://100.64.0.1/hook",             # CGNAT
]


@pytest.mark.parametrize("url", REFUSED)
async def test_start_with_a_private_webhook_target_is_422_and_starts_nothing(
        http: httpx.AsyncClient, url: str) -> None:
    key = f"webhook-{uuid.uuid4()}"
    refused = await http.post(f"{WORKFLOWS}/execute/ApprovalWorkflow", headers={"Idempotency-Key": key},
                              json={"vars": {"subject": "s", "webhook_url": url}})
    body = assert_problem(refused, 422, "webhook_url_not_allowed")
    assert "SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS" in body["detail"]
    # Nothing was started under the key: the same key now starts a fresh run.
    fine = await http.post(f"{WORKFLOWS}/execute/ApprovalWorkflow", headers={"Idempotency-Key": key},
                           json={"vars": {"subject": "s"}})
    assert fine.status_code == 200, fine.text


async def test_durable_create_checks_webhook_targets_too(http: httpx.AsyncClient) -> None:
    refused = await http.post(DURABLE, json={"workflow_type": "ApprovalWorkflow",
                                             "input": {"subject": "s", "webhook_url": "http://10.0.0.1/x"}})
    assert "10.0.0.1" in assert_problem(refused, 422, "webhook_url_not_allowed")["detail"]


async def test_an_allowed_network_is_accepted(http: httpx.AsyncClient) -> None:
    started = await http.post(f"{WORKFLOWS}/execute/ApprovalWorkflow",
                              json={"vars": {"subject": "s", "webhook_url": "http://127.0.0.1:9/hook"}})
    assert started.status_code == 200, started.text
