"""Connecting like a team's other Temporal clients: Temporal's environment configuration
(`TEMPORAL_ADDRESS`, a `temporal.toml` profile) under the `SIGNALWAY_TEMPORAL_*` settings, and a
payload codec given by import path that the gateway and the worker both apply."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from temporalio.api.enums.v1 import EventType
from temporalio.api.workflowservice.v1 import GetSystemInfoRequest
from temporalio.client import Client
from temporalio.service import TLSConfig

from signalway.localstack import ManagedProcess, free_port
from signalway.settings import CommonSettings
from signalway.temporal import connect, connect_options
from tests.helpers.codec import ENCODING
from tests.helpers.gateway import Gateway, launch_gateway, launch_worker
from tests.helpers.http import DURABLE, wait_status
from tests.helpers.stack import Stack

CODEC = "tests.helpers.codec:ZlibCodec"


@pytest.fixture
def no_temporal_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Only what a test sets: no developer's TEMPORAL_* nor their ~/.config/temporalio file."""
    import os

    for name in [n for n in os.environ if n.startswith("TEMPORAL_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / ".config"))


async def _server_answers(settings: CommonSettings) -> str:
    client = await connect(settings)
    await client.workflow_service.get_system_info(GetSystemInfoRequest())
    return client.namespace


async def test_temporal_address_alone_reaches_the_server(stack: Stack, monkeypatch: pytest.MonkeyPatch,
                                                         no_temporal_env: None) -> None:
    monkeypatch.setenv("TEMPORAL_ADDRESS", stack.temporal_address)
    monkeypatch.setenv("TEMPORAL_NAMESPACE", "default")
    settings = CommonSettings()
    assert connect_options(settings)["target_host"] == stack.temporal_address
    assert await _server_answers(settings) == "default"
    # Signalway's own setting, when set, wins over TEMPORAL_ADDRESS.
    monkeypatch.setenv("TEMPORAL_ADDRESS", "127.0.0.1:1")
    assert await _server_answers(CommonSettings(temporal_address=stack.temporal_address)) == "default"


async def test_a_temporal_toml_profile_reaches_the_server(stack: Stack, monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path, no_temporal_env: None) -> None:
    config = tmp_path / "temporal.toml"
    config.write_text(f'[profile.default]\naddress = "127.0.0.1:1"\n\n'
                      f'[profile.staging]\naddress = "{stack.temporal_address}"\nnamespace = "default"\n')
    monkeypatch.setenv("TEMPORAL_CONFIG_FILE", str(config))
    monkeypatch.setenv("TEMPORAL_PROFILE", "staging")
    settings = CommonSettings()
    assert connect_options(settings)["target_host"] == stack.temporal_address
    assert await _server_answers(settings) == "default"


def test_mtls_certificates_come_from_the_profile(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                 no_temporal_env: None) -> None:
    (tmp_path / "client.pem").write_bytes(b"CLIENT CERT")
    (tmp_path / "client.key").write_bytes(b"CLIENT KEY")
    (tmp_path / "ca.pem").write_bytes(b"SERVER CA")
    env = {"TEMPORAL_ADDRESS": "temporal.internal:7233", "TEMPORAL_NAMESPACE": "orders",
           "TEMPORAL_TLS_CLIENT_CERT_PATH": str(tmp_path / "client.pem"),
           "TEMPORAL_TLS_CLIENT_KEY_PATH": str(tmp_path / "client.key"),
           "TEMPORAL_TLS_SERVER_CA_CERT_PATH": str(tmp_path / "ca.pem")}
    options = connect_options(CommonSettings(), env=env)
    assert options["target_host"] == "temporal.internal:7233" and options["namespace"] == "orders"
    tls = options["tls"]
    assert isinstance(tls, TLSConfig)
    assert (tls.client_cert, tls.client_private_key, tls.server_root_ca_cert) == (
        b"CLIENT CERT", b"CLIENT KEY", b"SERVER CA")
    # SIGNALWAY_TEMPORAL_TLS=false turns it off; SIGNALWAY_TEMPORAL_* win where set.
    assert connect_options(CommonSettings(temporal_tls=False), env=env)["tls"] is False
    mine = connect_options(CommonSettings(temporal_namespace="mine", temporal_api_key="k"), env=env)
    assert mine["namespace"] == "mine" and mine["api_key"] == "k" and isinstance(mine["tls"], TLSConfig)
    # Nothing configured anywhere: today's defaults, no TLS.
    plain = connect_options(CommonSettings(), env={})
    assert (plain["target_host"], plain["namespace"], plain["tls"]) == ("127.0.0.1:7233", "default", False)


@pytest.fixture(scope="module")
def coded(stack: Stack, rsa_key: rsa.RSAPrivateKey) -> Iterator[Gateway]:
    queue = f"coded-{uuid.uuid4().hex[:8]}"
    port = free_port()
    worker: ManagedProcess = launch_worker(stack, port, name="coded-worker", SIGNALWAY_TASK_QUEUE=queue,
                                           SIGNALWAY_TEMPORAL_PAYLOAD_CODEC=CODEC)
    try:
        gateway = launch_gateway(stack, port, rsa_key, name="coded-gateway", SIGNALWAY_TASK_QUEUE=queue,
                                 SIGNALWAY_TEMPORAL_PAYLOAD_CODEC=CODEC)
    except BaseException:
        worker.stop()
        raise
    yield gateway
    gateway.process.stop()
    worker.stop()


async def test_a_payload_codec_applies_in_gateway_and_worker(coded: Gateway, client: Client) -> None:
    async with httpx.AsyncClient(base_url=coded.url, timeout=30, headers=coded.headers()) as http:
        created = await http.post(DURABLE, json={"workflow_type": "ApprovalWorkflow",
                                                 "input": {"subject": "sealed subject"}})
        assert created.status_code == 201, created.text
        wid = created.json()["id"]
        signalled = await http.post(f"{DURABLE}/{wid}/signal",
                                    json={"signal_type": "approve", "payload": {"approver": "carol"}})
        assert signalled.status_code == 202, signalled.text
        done = await wait_status(http, wid, "completed")
        assert done["result"]["approved"] is True and done["result"]["approver"] == "carol"
        events = (await http.get(f"{DURABLE}/{wid}/events", params={"limit": 1000})).json()["data"]
        assert events[0]["event_data"]["input"]["subject"] == "sealed subject"
    # What Temporal stores: only the codec's encoding, the subject nowhere in clear.
    stored = [event async for event in client.get_workflow_handle(wid).fetch_history_events()]
    payloads = []
    for event in stored:
        if event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
            payloads += event.workflow_execution_started_event_attributes.input.payloads
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
            payloads += event.workflow_execution_signaled_event_attributes.input.payloads
        elif event.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
            payloads += event.workflow_execution_completed_event_attributes.result.payloads
    assert len(payloads) == 3
    assert {p.metadata["encoding"] for p in payloads} == {ENCODING}
    assert all(b"sealed subject" not in p.data and b"carol" not in p.data for p in payloads)
