"""`make demo` builds the image only when it is missing (issue 17, "The first hour").

The Makefile runs in a copy of the project's Makefile with DOCKER set to a stand-in that
logs each argv and answers `image inspect` as told, and a docker/build.sh stand-in that
logs that it ran: this tests the Makefile's logic, not docker (tests/test_container*.py
run the real engine).
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

FAKE_DOCKER = """#!/bin/sh
echo "docker $*" >> "$FAKE_LOG"
case "$1 $2" in
    "info "*) exit 0 ;;
    "image inspect") [ "$FAKE_IMAGE" = present ] && exit 0; exit 1 ;;
    "run "*) mkdir -p outputs/tiny-vlm/demo && echo "| demo summary |" \\
        > outputs/tiny-vlm/demo/summary.md; exit 0 ;;
esac
exit 0
"""

FAKE_BUILD = """#!/bin/sh
echo "build.sh" >> "$FAKE_LOG"
"""


def make_demo(tmp_path: Path, image: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    work = tmp_path / "work"
    (work / "docker").mkdir(parents=True)
    shutil.copy(ROOT / "Makefile", work / "Makefile")
    for path, text in ((tmp_path / "docker", FAKE_DOCKER), (work / "docker/build.sh", FAKE_BUILD)):
        path.write_text(text)
        path.chmod(0o755)
    log = tmp_path / "log"
    log.touch()
    env = {**os.environ, "FAKE_LOG": str(log), "FAKE_IMAGE": image}
    env.pop("MAKEFLAGS", None)
    done = subprocess.run(
        ["make", "--no-print-directory", "demo", f"DOCKER={tmp_path / 'docker'}"],
        cwd=work, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return done, log.read_text().splitlines()


def test_demo_with_the_image_present_builds_nothing(tmp_path):
    done, calls = make_demo(tmp_path, "present")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "build.sh" not in calls
    assert calls[:2] == ["docker info", "docker image inspect vlmeval:latest"]
    assert calls[2].startswith("docker run --rm ") and " vlmeval:latest eval " in calls[2]
    assert "demo summary" in done.stdout
    assert "building" not in done.stdout + done.stderr


def test_demo_without_the_image_builds_it_first_and_says_so(tmp_path):
    done, calls = make_demo(tmp_path, "missing")
    assert done.returncode == 0, done.stdout + done.stderr
    assert calls[:3] == ["docker info", "docker image inspect vlmeval:latest", "build.sh"]
    assert calls[3].startswith("docker run --rm ")
    assert "make demo: no image vlmeval:latest; building it (make image)" in done.stdout


def test_demo_with_another_image_tag_inspects_that_tag(tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGE", "vlmeval:other")
    done, calls = make_demo(tmp_path, "present")
    assert done.returncode == 0, done.stdout + done.stderr
    assert calls[1] == "docker image inspect vlmeval:other" and "build.sh" not in calls
