"""Unknown `SIGNALWAY_*` variables: named at start, with the setting they most resemble."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
import time
from pathlib import Path

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from signalway.env_names import known_names, warnings
from signalway.localstack import free_port

ROOT = Path(__file__).resolve().parents[2]
MISSPELT = "SIGNALWAY_WEBHOOK_ALLOWED_NETWORK"  # no S


def test_a_misspelt_variable_is_named_with_the_setting_it_resembles() -> None:
    assert warnings({MISSPELT: "127.0.0.1/32", "SIGNALWAY_PORT": "8001", "PATH": "/bin"}) == [
        f"{MISSPELT} is not a Signalway setting and is ignored; did you mean SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS?"
    ]
    assert warnings({"signalway_jwt_secrte": "x"}) == [
        "signalway_jwt_secrte is not a Signalway setting and is ignored; did you mean SIGNALWAY_JWT_SECRET?"
    ]
    # Nothing alike: named, without a guess (the shared prefix alone makes no likeness).
    assert warnings({"SIGNALWAY_ZZZ": "1"}) == ["SIGNALWAY_ZZZ is not a Signalway setting and is ignored"]


def test_every_settings_class_and_every_direct_read_is_known() -> None:
    known = known_names()
    # The gateway's, the worker's and the shared settings, and what `signalway dev` reads itself.
    assert {"SIGNALWAY_JWT_SECRET", "SIGNALWAY_WORKER_METRICS_ADDRESS", "SIGNALWAY_REDIS_URL",
            "SIGNALWAY_DATA_DIR", "SIGNALWAY_TEMPORAL_BIN"} <= known
    # Any name the code spells out (an os.environ read, a message) is one some process reads.
    spelt: set[str] = set()
    for package in ("signalway", "workflows"):
        for path in (ROOT / package).rglob("*.py"):
            if path.name == "env_names.py":  # its docstring's example of a misspelling
                continue
            spelt.update(re.findall(r"SIGNALWAY_[A-Z0-9_]*[A-Z0-9]\b", path.read_text()))
    assert spelt - known == set(), "read directly but not in signalway.env_names.DIRECT"


def test_a_settings_class_added_later_is_known_without_a_list() -> None:
    class LaterSettings(BaseSettings):
        model_config = SettingsConfigDict(env_prefix="SIGNALWAY_")
        catalog_path_for_test: str = Field("")

    assert "SIGNALWAY_CATALOG_PATH_FOR_TEST" in known_names()
    assert warnings({"SIGNALWAY_CATALOG_PATH_FOR_TST": "x"})[0].endswith("SIGNALWAY_CATALOG_PATH_FOR_TEST?")


def _first_lines_until(argv: list[str], env: dict[str, str], wanted: str, within: float) -> str:
    """Start a process, read its output until `wanted` shows (or it ends, or `within` passes), stop it."""
    base = {name: value for name, value in os.environ.items() if not name.startswith("SIGNALWAY_")}
    process = subprocess.Popen(argv, env={**base, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, cwd=ROOT)
    seen: list[str] = []

    def read() -> None:
        assert process.stdout is not None
        seen.extend(process.stdout)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    deadline = time.monotonic() + within
    while wanted not in "".join(seen) and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    process.kill()
    process.wait(10)
    reader.join(10)
    assert process.stdout is not None
    process.stdout.close()
    return "".join(seen)


def test_the_gateway_and_the_worker_name_a_misspelt_variable_at_start() -> None:
    env = {MISSPELT: "127.0.0.1/32", "SIGNALWAY_JWT_SECRET": "x" * 40, "SIGNALWAY_PORT": str(free_port()),
           "SIGNALWAY_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}", "SIGNALWAY_REDIS_URL": f"redis://127.0.0.1:{free_port()}"}
    for command in ("gateway", "worker"):
        output = _first_lines_until([sys.executable, "-m", "signalway", command], env, "did you mean", 60)
        assert f"{MISSPELT} is not a Signalway setting and is ignored; did you mean " \
               "SIGNALWAY_WEBHOOK_ALLOWED_NETWORKS?" in output, (command, output)
