"""The README's headline command, word for word, whatever the mounted directory (issue 17).

`docker run --rm -v $PWD/outputs:/outputs vlmeval eval …` (on the CPU: no --gpus, with
--device cpu and tiny-vlm) with a directory that does not exist (docker makes it, owned by
root), one owned by root, one owned by another uid, and one of root's with files in it: the
run succeeds and the result files belong to the directory's owner (docker/entrypoint.sh
starts as root, takes that owner and drops to it; an empty root-owned directory is given to
the image's uid 1000 first). And doctor, in the image, says when nothing is mounted there.

Marker ``container``: a real docker engine and the image ``$IMAGE`` (`make test-container`);
without them these tests fail, they never skip. They chown directories, so they run as root
(as CI does).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.container

IMAGE = os.environ.get("IMAGE", "vlmeval:latest")
DOCKER = os.environ.get("DOCKER", "docker")
# The README's command, as a user types it in a shell; `vlmeval` is the image's name there.
HEADLINE = (
    "{docker} run --rm -v $PWD/outputs:/outputs {image} eval --device cpu -m tiny-vlm "
    "-d ShapesMCQ --limit 40 --run-name headline"
)
NOTE = "vlmeval: note: /outputs was an empty directory owned by root"


def docker(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return subprocess.run([DOCKER, *args], capture_output=True, text=True, timeout=timeout)


def headline(cwd: Path, *extra: str) -> subprocess.CompletedProcess:
    command = HEADLINE.format(docker=shlex.quote(DOCKER), image=shlex.quote(IMAGE))
    if extra:
        command = command.replace(" run --rm ", f" run --rm {shlex.join(extra)} ", 1)
    return subprocess.run(command, shell=True, cwd=cwd, capture_output=True, text=True, timeout=600)


def owners(root: Path) -> set[tuple[int, int]]:
    return {(p.stat().st_uid, p.stat().st_gid) for p in [root, *root.rglob("*")]}


def scored(outputs: Path) -> None:
    summary = json.loads((outputs / "tiny-vlm" / "headline" / "summary.json").read_text())
    assert summary["datasets"]["ShapesMCQ"]["n"] == 40


@pytest.fixture(scope="module", autouse=True)
def image() -> None:
    assert os.getuid() == 0, "these tests chown directories: run them as root (CI does)"
    inspect = docker("image", "inspect", IMAGE, timeout=60)
    assert inspect.returncode == 0, f"no image {IMAGE}: build it with `make image`"


def test_a_directory_that_does_not_exist_is_made_by_docker_and_given_to_uid_1000(tmp_path):
    done = headline(tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    outputs = tmp_path / "outputs"
    scored(outputs)
    assert owners(outputs) == {(1000, 1000)}
    assert [line for line in done.stderr.splitlines() if line.startswith(NOTE)], done.stderr


def test_an_empty_directory_owned_by_root_is_given_to_uid_1000(tmp_path):
    (tmp_path / "outputs").mkdir()
    os.chown(tmp_path / "outputs", 0, 0)
    done = headline(tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    scored(tmp_path / "outputs")
    assert owners(tmp_path / "outputs") == {(1000, 1000)}


def test_a_directory_of_another_uid_gets_files_of_that_uid(tmp_path):
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    os.chown(outputs, 1234, 1235)
    done = headline(tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    scored(outputs)
    assert owners(outputs) == {(1234, 1235)}
    assert NOTE not in done.stderr


def test_a_root_directory_with_files_in_it_stays_roots(tmp_path):
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    (outputs / "earlier.txt").write_text("root's\n")
    done = headline(tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    scored(outputs)
    assert owners(outputs) == {(0, 0)}


def test_an_explicit_user_still_runs_as_that_user(tmp_path):
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    os.chown(outputs, 4242, 4343)
    done = headline(tmp_path, "--user", "4242:4343")
    assert done.returncode == 0, done.stderr[-3000:]
    assert owners(outputs) == {(4242, 4343)}


def test_without_the_right_to_change_user_it_is_one_line_naming_the_fix(tmp_path):
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    os.chown(outputs, 1234, 1235)
    done = headline(tmp_path, "--cap-drop", "ALL")
    assert done.returncode == 3, done.stderr[-3000:]
    assert done.stderr.splitlines() == [
        "vlmeval: error: the container starts as root to take the owner of /outputs (uid "
        "1234, gid 1235) but may not change its user (--cap-drop ALL drops SETUID and "
        "SETGID): pass -u 1234:1235 as well"
    ]
    assert list(outputs.iterdir()) == []


def test_every_command_drops_to_the_owner_and_output_follows_the_flag(tmp_path):
    results = tmp_path / "results"
    results.mkdir()
    os.chown(results, 1234, 1235)
    ids = docker(
        "run", "--rm", "-v", f"{results}:/results", IMAGE, "sh", "-c", "id -u; id -g; id -G",
    )  # fmt: skip
    assert ids.stdout.split() == ["1000", "1000", "1000"], ids.stderr  # /outputs: the image's
    flagged = docker(
        "run", "--rm", "-v", f"{results}:/results", IMAGE, "eval", "--device", "cpu",
        "-m", "tiny-vlm", "-d", "ShapesMCQ", "--limit", "8", "--output", "/results",
        "--run-name", "flag",
    )  # fmt: skip
    assert flagged.returncode == 0, flagged.stderr[-3000:]
    assert owners(results) == {(1234, 1235)}
    caps = docker("run", "--rm", IMAGE, "grep", "^CapEff", "/proc/self/status")
    assert int(caps.stdout.split()[1], 16) == 0  # no capability is left after the drop


def test_doctor_in_the_image_says_when_nothing_is_mounted_on_outputs(tmp_path):
    bare = docker("run", "--rm", IMAGE, "doctor")
    line = re.search(r"^(\w+) +output +(.*)$", bare.stdout, re.M)
    assert line, bare.stdout
    assert line[1] == "warn"
    assert line[2] == (
        "/outputs is no mounted volume: the results stay in this container and are lost "
        "with it (docker run --rm); mount a host directory there: -v $PWD/outputs:/outputs"
    )
    assert "in this container: start it with --gpus all" in bare.stdout
    assert "vlmeval eval --device cpu" in bare.stdout
    (tmp_path / "outputs").mkdir()
    mounted = docker("run", "--rm", "-v", f"{tmp_path / 'outputs'}:/outputs", IMAGE, "doctor")
    assert re.search(r"^ok +output +/outputs \(writable\)$", mounted.stdout, re.M), mounted.stdout
