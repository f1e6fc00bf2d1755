"""Without network, a run stops in seconds with one line that says how to fix it.

* A hub model that is not cached, behind a hub that refuses connections or accepts them
  and never answers (real sockets on 127.0.0.1, through ``HF_ENDPOINT``): exit 3 within
  the issue's 30 s, naming `vlmeval fetch`, ``HF_HUB_OFFLINE=1`` and ``HF_ENDPOINT``,
  before the run directory is made.
* The same model in the Hugging Face cache: the run loads it from there, with a note.
* A registered dataset whose download is refused: the line names `vlmeval fetch` and
  ``VLMEVAL_DATA_URL_BASE``.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

import fake_nvml
from vlmeval_core.models.registry import TINY_VLM_DIR

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")
REPO = "someorg/tiny-vlm"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
BOUND_S = 30  # the bound for a verdict


@pytest.fixture
def refusing() -> str:
    """A 127.0.0.1 address where nothing listens: every connection is refused."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.fixture
def stalling() -> Iterator[str]:
    """A server that takes connections (the kernel's backlog) and never answers."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(64)
        yield f"http://127.0.0.1:{server.getsockname()[1]}"


def evaluate(tmp_path: Path, *args: str, **env: str) -> tuple[subprocess.CompletedProcess, float]:
    environ = fake_nvml.subprocess_env(None, fake=False, HF_HOME=str(tmp_path / "hf"), **env)
    environ.pop("HF_HUB_OFFLINE", None)
    started = time.monotonic()
    done = subprocess.run(
        [VLMEVAL, "eval", "--device", "cpu", *args, "--output", str(tmp_path / "out"),
         "--data-dir", str(tmp_path / "data"), "--run-name", "r"],
        env=environ, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    return done, time.monotonic() - started


@pytest.mark.parametrize(
    "hub",
    ["refusing", pytest.param("stalling", marks=pytest.mark.slow)],  # ~10 s: its timeout
)
def test_an_unreachable_hub_stops_an_uncached_model_at_once(tmp_path, request, hub):
    endpoint = request.getfixturevalue(hub)
    done, seconds = evaluate(tmp_path, "-m", REPO, "-d", "ShapesMCQ", HF_ENDPOINT=endpoint)

    assert done.returncode == 3, done.stderr[-3000:]
    assert seconds < BOUND_S
    [line] = done.stderr.splitlines()
    assert line.startswith(f"vlmeval: error: model '{REPO}' is not in the Hugging Face cache ")
    assert f"the hub at {endpoint} cannot be reached" in line
    assert f"run `vlmeval fetch -m {REPO}` where there is network" in line
    assert "HF_HUB_OFFLINE=1 with a filled cache" in line
    assert "point HF_ENDPOINT at a reachable mirror" in line
    assert not (tmp_path / "out" / "someorg__tiny-vlm").exists()


def fill_cache(hf_home: Path) -> None:
    """``REPO`` at ``COMMIT`` in the Hugging Face cache layout, with tiny-vlm's files."""
    repo = hf_home / "hub" / f"models--{REPO.replace('/', '--')}"
    shutil.copytree(TINY_VLM_DIR, repo / "snapshots" / COMMIT)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(COMMIT)


@pytest.mark.slow
def test_an_unreachable_hub_runs_a_cached_model_from_the_cache(tmp_path, refusing):
    fill_cache(tmp_path / "hf")
    done, _ = evaluate(
        tmp_path, "-m", REPO, "-d", "ShapesMCQ", "--limit", "4", "--quiet", HF_ENDPOINT=refusing
    )

    assert done.returncode == 0, done.stderr[-3000:]
    assert (
        f"vlmeval: note: the hub at {refusing} cannot be reached ([Errno 111] Connection "
        f"refused); loading {REPO} from the cache (commit {COMMIT[:12]}) with HF_HUB_OFFLINE=1"
    ) in done.stderr.splitlines()
    assert (tmp_path / "out" / "someorg__tiny-vlm" / "r" / "summary.json").is_file()


def test_a_dataset_that_cannot_be_downloaded_names_fetch_and_the_mirror_variable(
    tmp_path, refusing
):
    done, _ = evaluate(tmp_path, "-m", "tiny-vlm", "-d", "MMStar", VLMEVAL_DATA_URL_BASE=refusing)

    assert done.returncode == 3, done.stderr[-3000:]
    errors = [line for line in done.stderr.splitlines() if line.startswith("vlmeval: error: ")]
    assert len(errors) == 1, done.stderr
    assert f"MMStar: downloading {refusing}/MMStar.tsv failed twice" in errors[0]
    assert "run `vlmeval fetch -d MMStar` where the network can be reached" in errors[0]
    assert "or set VLMEVAL_DATA_URL_BASE to a mirror that serves MMStar.tsv" in errors[0]
