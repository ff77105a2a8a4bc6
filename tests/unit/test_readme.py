"""The README's configuration table names every setting the processes read."""

import re
from pathlib import Path

from gateway.settings import GatewaySettings
from worker.settings import WorkerSettings

README = (Path(__file__).resolve().parents[2] / "README.md").read_text()


def test_every_setting_is_in_the_readme_table() -> None:
    documented = set(re.findall(r"^\| `(SIGNALWAY_[A-Z_]+)` \|", README, re.MULTILINE))
    fields = {f"SIGNALWAY_{n.upper()}" for cls in (GatewaySettings, WorkerSettings) for n in cls.model_fields}
    assert documented == fields
