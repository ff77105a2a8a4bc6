"""What the wheel is made of: pyproject.toml lists every package folder, under the name it installs as."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETUPTOOLS = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]


def _installed_name(folder: Path) -> str:
    parts = list(folder.relative_to(ROOT).parts)
    for name, source in SETUPTOOLS["package-dir"].items():
        if parts[0] == source:
            parts[0] = name
    return ".".join(parts)


def test_every_package_folder_is_in_the_wheel_under_a_signalway_name() -> None:
    sources = [ROOT / "signalway", ROOT / "workflows"]
    folders = {_installed_name(init.parent) for source in sources for init in source.rglob("__init__.py")}
    assert set(SETUPTOOLS["packages"]) == folders
    assert all(name.split(".")[0].startswith("signalway") for name in folders)
