"""The dev supervisor's rules (backoff, giving up, dependency order), on tiny real processes.

`Supervisor.step(now)` is driven with a made-up clock, so the backoff schedule is checked
without waiting for it.
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from rich.console import Console

from signalway import devstack
from signalway.devstack import ConfigurationError, CrashLoop, Service, Supervisor, _without_password
from signalway.localstack import ManagedProcess


def _service(tmp_path: Path, name: str, argv: list[str], needs: tuple[str, ...] = ()) -> Service:
    return Service(
        name, spawn=lambda: ManagedProcess(name, argv, log_path=tmp_path / f"{name}.log"),
        probe=lambda process: process.running(), address=name, announce="", needs=needs,
    )


def _state(service: Service) -> str:
    """Its state, read afresh (mypy would otherwise keep an earlier assert's narrowing)."""
    return service.state


def _exit_now(service: Service) -> None:
    """Let the child `false` finish, so that the next step sees it exited."""
    assert service.process is not None
    service.process.popen.wait(5)


def test_a_crashing_child_is_restarted_with_doubling_backoff_then_given_up(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    crashing = _service(tmp_path, "crashy", ["false"])
    supervisor = Supervisor([crashing], status_path=tmp_path / "status.json")
    now, delays = 1000.0, []
    supervisor.step(now)  # started
    for _ in range(4):
        _exit_now(crashing)
        supervisor.step(now)  # exit seen: backoff
        assert _state(crashing) == "backoff"
        delays.append(crashing.restart_at - now)
        supervisor.step(crashing.restart_at - 0.01)
        assert _state(crashing) == "backoff"  # not before its time
        now = crashing.restart_at
        supervisor.step(now)  # restarted
        assert _state(crashing) == "starting"
    assert delays == [0.5, 1, 2, 4]
    assert "crashy exited with 1; restarting in 0.5 s" in capsys.readouterr().out
    _exit_now(crashing)
    with pytest.raises(CrashLoop, match=r"crashy keeps exiting \(exited with 1, 5 times within 30 s\)"):
        supervisor.step(now)


def test_backoff_is_capped_and_starts_over_after_a_stable_run(tmp_path: Path) -> None:
    child = _service(tmp_path, "child", ["false"])
    supervisor = Supervisor([child], status_path=tmp_path / "status.json")
    now = 0.0
    supervisor.step(now)
    for _ in range(8):  # exits spread out beyond the crash window: never given up
        now += 40
        _exit_now(child)
        supervisor.step(now)
        now = child.restart_at
        supervisor.step(now)
    assert child.backoff == 10  # 0.5 doubled, capped
    child.state, child.up_since = "up", now  # as if it had been ready
    now += 31
    _exit_now(child)
    supervisor.step(now)
    assert child.restart_at - now == 0.5


def test_dependents_start_only_once_their_backends_are_up(tmp_path: Path) -> None:
    backend = _service(tmp_path, "backend", ["sleep", "30"])
    backend.probe = lambda process: False  # not up yet
    dependent = _service(tmp_path, "dependent", ["sleep", "30"], needs=("backend",))
    supervisor = Supervisor([backend, dependent], status_path=tmp_path / "status.json")
    try:
        supervisor.step(0)
        assert (backend.state, dependent.state, dependent.process) == ("starting", "waiting", None)
        backend.probe = lambda process: process.running()
        supervisor.step(1)  # backend up; the dependent starts on the same pass
        assert (backend.state, dependent.state) == ("up", "starting")
        status = json.loads((tmp_path / "status.json").read_text())
        assert status["services"]["backend"]["state"] == "up"
        assert status["services"]["dependent"]["pid"] == dependent.process.popen.pid  # type: ignore[union-attr]
    finally:
        supervisor.stop()
    assert not backend.process.running()  # type: ignore[union-attr]
    assert json.loads((tmp_path / "status.json").read_text())["services"]["dependent"]["state"] == "stopped"


def test_an_external_redis_password_stays_out_of_the_banner() -> None:
    assert _without_password("redis://:pw@h:6379/0") == "redis://:***@h:6379/0"
    assert _without_password("redis+sentinel://u:pw@a:1,b:2/m") == "redis+sentinel://u:***@a:1,b:2/m"
    assert _without_password("redis://127.0.0.1:6390/0") == "redis://127.0.0.1:6390/0"


def test_a_child_with_a_configuration_error_is_not_restarted(tmp_path: Path) -> None:
    # Exit code 2 is a bad setting: the supervisor stops at once with the child's own line.
    said = "configuration error: SIGNALWAY_MAX_BODY_BYTES: Input should be a valid integer"
    child = _service(tmp_path, "gateway", ["sh", "-c", f"echo older noise; echo '{said}'; exit 2"])
    supervisor = Supervisor([child], status_path=tmp_path / "status.json")
    supervisor.step(1000.0)
    _exit_now(child)
    with pytest.raises(ConfigurationError) as raised:
        supervisor.step(1000.1)
    assert str(raised.value) == said
    assert child.restarts == 0


def _banner_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, allowed: str) -> str:
    out = io.StringIO()
    monkeypatch.setattr(devstack, "console", Console(file=out, width=300, color_system=None))
    devstack._banner("http://127.0.0.1:8000", 8233, 7233, "redis://127.0.0.1:6390/0", "eyJ." + "t" * 200,
                     "sk_dev_" + "k" * 16, Path(".signalway"), "whsec_" + "s" * 44, allowed)
    return out.getvalue()


@pytest.mark.parametrize("allowed", ["", "127.0.0.1/32", "10.0.0.0/8,::1/128"])
def test_the_banner_fits_100_columns_and_tells_where_webhooks_go(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, allowed: str,
) -> None:
    text = _banner_text(tmp_path, monkeypatch, allowed)
    token_line = "eyJ." + "t" * 200  # printed alone, to be copied whole
    assert [line for line in text.splitlines() if len(line) > 100 and line != token_line] == []
    if not allowed:
        assert "public addresses only; for a receiver on this machine:" in text
        assert "SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS=127.0.0.1/32 make dev" in text
    else:
        assert "public addresses only" not in text
        assert f"public addresses and {allowed.replace(',', ', ')}" in text
        assert "receivers on this machine included" in text


def test_the_banner_says_when_the_allowed_networks_leave_this_machine_out(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    text = _banner_text(tmp_path, monkeypatch, "10.0.0.0/8")
    assert "public addresses and 10.0.0.0/8" in text
    assert "not to this machine: add 127.0.0.1/32 for a receiver here" in text


def test_the_banner_offers_only_the_workflows_the_catalog_serves(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(devstack, "console", Console(file=out, width=300, color_system=None))
    devstack._banner("http://127.0.0.1:8000", 8233, 7233, "redis://127.0.0.1:6390/0", "eyJ.t", "sk_dev_k",
                     Path(".signalway"), "whsec_s", "", served=frozenset({"Greeter", "Doorbell"}))
    text = out.getvalue()
    assert "ApprovalWorkflow" not in text and "ConversationWorkflow" not in text
    assert "The catalog (SIGNALWAY_WORKFLOWS) serves Doorbell, Greeter" in text


def test_dev_reads_the_served_types_from_the_gateways_catalog(tmp_path: Path) -> None:
    env = {"SIGNALWAY_JWT_SECRET": "s" * 40,
           "SIGNALWAY_WORKFLOWS": '{"Greeter": {"task_queue": "team"}, "include_examples": true}'}
    served = devstack._served_types(env)
    assert {"Greeter", "ApprovalWorkflow", "ConversationWorkflow"} <= served
    assert devstack._served_types({"SIGNALWAY_JWT_SECRET": "s" * 40}) >= {"ApprovalWorkflow"}
