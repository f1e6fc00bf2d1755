"""The venv that runs the tests holds the image's versions: docker/requirements.lock's.

`make install` installs the lock (hashes checked), as docker/Dockerfile does, so a run
made in the venv and resumed in the container (or the reverse) used the same torch,
transformers and the rest. Before, `make install` resolved its own versions
(transformers 5.25.0 in the venv against the image's 5.23.0).
"""

from __future__ import annotations

import importlib.metadata
import re
from pathlib import Path

from packaging.markers import Marker

LOCK = Path(__file__).resolve().parents[1] / "docker" / "requirements.lock"
PIN = re.compile(r"^([A-Za-z0-9_.-]+)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$", re.MULTILINE)


def locked_versions() -> dict[str, str]:
    """Each package the lock pins for this interpreter and platform, with its version."""
    return {
        name: version
        for name, version, marker in PIN.findall(LOCK.read_text())
        if not marker or Marker(marker).evaluate()
    }


def test_the_lock_pins_what_the_image_needs():
    pins = locked_versions()
    assert {"torch", "transformers", "tokenizers", "pillow", "pandas", "pytest"} <= pins.keys()


def test_every_locked_package_is_installed_at_its_locked_version():
    differ = {}
    for name, version in locked_versions().items():
        try:
            installed = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            installed = None
        if installed != version:
            differ[name] = f"locked {version}, installed {installed}"
    assert not differ, f"the venv differs from docker/requirements.lock (make install): {differ}"
