"""Two builds of one commit on one base give the same image ID (issue 12, point 8).

`make test-reproducible` (marker ``container``): builds the image again with ``--no-cache``
through docker/build.sh, with the environment CI's build had (BASE_IMAGE, LOCAL_INDEXES,
CA_BUNDLE, ...), and compares it with ``$IMAGE``, which `make image` built just before from
the same commit. Needs a docker engine; fails, never skips, without one. Takes one full
build (about 3 minutes on CI's 2 cores with local wheel indexes).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parents[1]
IMAGE = os.environ.get("IMAGE", "vlmeval:latest")
DOCKER = os.environ.get("DOCKER", "docker")


def inspect(image: str) -> dict:
    done = subprocess.run([DOCKER, "image", "inspect", image], capture_output=True, text=True)
    assert done.returncode == 0, f"no image {image}: build it with `make image`"
    return json.loads(done.stdout)[0]


def head() -> str:
    return subprocess.run(
        ["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=ROOT, check=True
    ).stdout.strip()


def test_a_second_no_cache_build_of_the_commit_gives_the_same_image_id():
    first = inspect(IMAGE)
    revision = first["Config"]["Labels"]["org.opencontainers.image.revision"]
    assert revision.removesuffix("-dirty") == head(), (
        f"{IMAGE} was built from {revision}, not from this commit: run `make image` first"
    )
    again = f"{IMAGE.rsplit(':', 1)[0]}:reproducible-check"
    env = {**os.environ, "IMAGE": again, "BUILD_FLAGS": "--no-cache"}
    try:
        build = subprocess.run(
            ["docker/build.sh"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=3000
        )
        assert build.returncode == 0, (build.stdout + build.stderr)[-3000:]
        second = inspect(again)
    finally:
        subprocess.run([DOCKER, "image", "rm", again], capture_output=True)
    # Layer by layer first, so that a failure says which layers differ.
    layers = list(zip(first["RootFS"]["Layers"], second["RootFS"]["Layers"], strict=True))
    differing = [i for i, (a, b) in enumerate(layers) if a != b]
    assert not differing, f"layers {differing} of {len(layers)} differ between the builds"
    # Then the config, so that a failure names what differs (a tree made dirty between the
    # builds shows as a revision ending in -dirty).
    config = {
        k: v for k, v in first["Config"].items() if first["Config"][k] != second["Config"].get(k)
    }
    assert not config, f"the image configs differ in {sorted(config)}: {config}"
    assert second["Created"] == first["Created"]
    assert second["Id"] == first["Id"]
