"""The `signalway` command's `token` and `env` outside the checkout, and where `dev` takes its port."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import jwt
import pytest

from signalway.cli import _gateway_port, main
from signalway.devstack import dev_api_key
from signalway.env_names import warnings

SECRET = "a-dev-secret-of-more-than-32-bytes-for-hs256"


@pytest.fixture
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A dev stack's data dir with its secret, and a cwd elsewhere (not the checkout)."""
    data = tmp_path / "state"
    data.mkdir()
    (data / "dev-secret").write_text(SECRET + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    monkeypatch.delenv("SIGNALWAY_JWT_SECRET", raising=False)
    monkeypatch.delenv("SIGNALWAY_DATA_DIR", raising=False)
    return data


def _claims(token: str) -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(token, SECRET, algorithms=["HS256"])
    return claims


def test_token_signs_with_the_dev_secret_of_data_dir(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--project", "p1", "--user", "u1", "--data-dir", str(data_dir)]) == 0
    out = capsys.readouterr()
    assert _claims(out.out.strip())["project"] == "p1"
    assert str(data_dir) in out.err


def test_token_takes_the_data_dir_from_the_environment(data_dir: Path, monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("SIGNALWAY_DATA_DIR", str(data_dir))
    assert main(["token", "--project", "p1", "--user", "u1"]) == 0
    assert _claims(capsys.readouterr().out.strip())["sub"] == "u1"


def test_token_without_any_secret_says_where_it_looked(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["token", "--project", "p1", "--user", "u1"]) == 2  # cwd has no .signalway
    assert "SIGNALWAY_JWT_SECRET" in capsys.readouterr().err


def _exports(output: str) -> dict[str, str]:
    exported = {}
    for line in output.splitlines():
        words = shlex.split(line)
        assert words[0] == "export" and len(words) == 2, line
        name, value = words[1].split("=", 1)
        exported[name] = value
    return exported


def test_env_exports_a_dev_token_and_the_dev_api_key(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env", "--data-dir", str(data_dir)]) == 0
    exported = _exports(capsys.readouterr().out)
    assert set(exported) == {"TOKEN", "API_KEY"}  # a data dir without stack.json: the credentials only
    assert _claims(exported["TOKEN"])["project"] == "dev"
    assert exported["API_KEY"] == dev_api_key(SECRET)


def test_env_exports_the_base_url_and_what_a_worker_needs(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (data_dir / "stack.json").write_text(json.dumps({
        "url": "http://127.0.0.1:8123", "temporal_address": "127.0.0.1:7299", "temporal_namespace": "default",
        "redis_url": "redis://127.0.0.1:6391/0", "task_queue": "signalway"}))
    (data_dir / "resume-secret").write_text("r" * 43)
    (data_dir / "webhook-secret").write_text("whsec_c2VjcmV0")
    assert main(["env", "--data-dir", str(data_dir)]) == 0
    exported = _exports(capsys.readouterr().out)
    assert exported["SIGNALWAY_URL"] == exported["SIGNALWAY_PUBLIC_URL"] == "http://127.0.0.1:8123"
    assert exported["SIGNALWAY_TEMPORAL_ADDRESS"] == "127.0.0.1:7299"
    assert exported["SIGNALWAY_TEMPORAL_NAMESPACE"] == "default"
    assert exported["SIGNALWAY_REDIS_URL"] == "redis://127.0.0.1:6391/0"
    assert exported["SIGNALWAY_RESUME_SECRET"] == "r" * 43
    assert exported["SIGNALWAY_WEBHOOK_SECRET"] == "whsec_c2VjcmV0"
    # Each one a setting the worker reads (or the base URL for curl lines): none is warned about.
    assert warnings(exported) == []


def test_env_without_a_dev_stack_fails_clearly(data_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["env", "--data-dir", str(data_dir / "nothing-here")]) == 2
    assert "run `signalway dev` first" in capsys.readouterr().err


def test_dev_port_comes_from_the_flag_then_signalway_port_then_8000(monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("SIGNALWAY_PORT", raising=False)
    assert _gateway_port(None) == 8000
    monkeypatch.setenv("SIGNALWAY_PORT", "8123")
    assert _gateway_port(None) == 8123
    assert _gateway_port(9001) == 9001
    monkeypatch.setenv("SIGNALWAY_PORT", "eighty")
    with pytest.raises(SystemExit) as exit_:
        _gateway_port(None)
    assert exit_.value.code == 2
    assert capsys.readouterr().err == "configuration error: SIGNALWAY_PORT: must be a port number (1-65535)\n"
