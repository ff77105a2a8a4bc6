"""Signalway as a team installs it: a wheel built from this checkout, in a virtual environment
of its own (outside the checkout, the versions uv.lock pins), never the editable install the
test session runs from."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
UV = ROOT / ".tools" / "bin" / "uv"


def _uv(*args: str, cwd: Path = ROOT) -> str:
    assert UV.is_file(), f"{UV} is missing: `make test` installs it (make .venv/.installed-test)"
    env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
    env.pop("VIRTUAL_ENV", None)
    result = subprocess.run([str(UV), *args], cwd=cwd, env=env, capture_output=True, text=True,
                            timeout=600, check=False)
    assert result.returncode == 0, f"uv {' '.join(args)}\n{result.stdout}\n{result.stderr}"
    return result.stdout


def build_wheel(out: Path) -> Path:
    """The wheel, built from the sdist as a package index would (so leftovers in the checkout's
    `build/` cannot slip into it)."""
    _uv("build", "--quiet", "--out-dir", str(out))
    wheels = sorted(out.glob("signalway-*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


def top_level_names(wheel: Path) -> set[str]:
    """What the wheel puts at the top of site-packages (its metadata folder aside)."""
    with zipfile.ZipFile(wheel) as archive:
        names = {name.split("/")[0] for name in archive.namelist()}
    return {name.removesuffix(".py") for name in names if not name.endswith((".dist-info", ".data"))}


@dataclass
class Venv:
    path: Path

    @property
    def bin(self) -> Path:
        return self.path / "bin"

    @property
    def python(self) -> Path:
        return self.bin / "python"

    def pip_install(self, *args: str) -> None:
        _uv("pip", "install", "--quiet", "--python", str(self.python), *args)


def installed_venv(path: Path, wheel: Path, *, extras: str = "local") -> Venv:
    """A new venv at `path` with the locked runtime set (and `extras`) and then the wheel."""
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True, timeout=120)
    venv = Venv(path)
    requirements = path / "requirements.txt"
    requirements.write_text(_uv("export", "--frozen", "--no-default-groups", "--no-emit-project",
                                "--no-header", "--quiet", *(["--extra", extras] if extras else [])))
    venv.pip_install("--require-hashes", "-r", str(requirements))
    venv.pip_install("--no-deps", str(wheel))
    return venv
