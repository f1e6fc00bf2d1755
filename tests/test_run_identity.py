"""One run, one configuration: a relaunch under the same run name resumes only with the
settings the run's predictions were made with.

Real launches of the console script (``vlmeval eval``, which execs torchrun with
gloo ranks on the CPU). The first launch fixes the run's identity; a later one
that would change a prediction stops before any work with exit 2, naming each
differing field and the two ways out; one that changes only how the work is
done (ranks, batch size, limit) resumes, and the manifest lists both attempts
under the run's identity.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import fake_nvml
from vlmeval_core.identity import differences
from vlmeval_core.models.registry import TINY_VLM_DIR

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")


def launch(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = fake_nvml.subprocess_env(
        None, fake=False, LMUData=str(tmp_path / "data"), HF_HUB_OFFLINE="1"
    )
    return subprocess.run(
        [VLMEVAL, "eval", "--device", "cpu", "--output", str(tmp_path / "out"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )


def shard_bytes(run_dir: Path) -> dict[str, bytes]:
    return {str(p.relative_to(run_dir)): p.read_bytes() for p in run_dir.glob("*/.shards/*")}


def the_error(done: subprocess.CompletedProcess[str]) -> str:
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr[-3000:]
    assert lines[0].startswith("vlmeval: error: "), lines[0]
    return lines[0]


def test_differences_name_each_field_with_its_old_and_new_value():
    old = {"model": {"commit": None, "dtype": "auto"}, "seed": 0, "datasets": {"A": {"md5": "1"}}}
    new = {"model": {"commit": "abc", "dtype": "float32"}, "seed": 3, "datasets": {"B": {}}}
    assert differences(old, new) == [
        'datasets.A was {"md5": "1"}, now (none)',
        "datasets.B was (none), now {}",
        'model.dtype was "auto", now "float32"',
        "seed was 0, now 3",
    ]
    assert differences(old, old) == []


@pytest.mark.slow
def test_a_relaunch_that_would_change_predictions_stops_before_any_work(tmp_path):
    model = tmp_path / "my-vlm"
    shutil.copytree(TINY_VLM_DIR, model)
    first = ("-m", str(model), "-d", "ShapesVQA", "--run-name", "r", "--limit", "4")
    done = launch(tmp_path, *first, "--max-new-tokens", "8")
    assert done.returncode == 0, done.stderr[-3000:]
    run_dir = tmp_path / "out" / "my-vlm" / "r"
    kept = shard_bytes(run_dir)
    plan_before = (run_dir / "plan.json").read_bytes()
    assert kept and plan_before

    fix = (
        "Rerun with the run's settings, give this run another --run-name, or pass --restart "
        "to move the old run aside (to r.replaced-<time>) and start it over"
    )
    tokens = launch(tmp_path, *first, "--max-new-tokens", "1")
    assert tokens.returncode == 2
    assert the_error(tokens) == (
        f"vlmeval: error: run {run_dir} was started with other settings, so its predictions "
        f"cannot be resumed with these: generation.max_new_tokens was 8, now 1. {fix}"
    )
    seed = launch(tmp_path, *first, "--max-new-tokens", "8", "--seed", "3", "--dtype", "float32")
    assert seed.returncode == 2
    assert 'model.dtype was "auto", now "float32"; seed was 0, now 3.' in the_error(seed)

    config = json.loads((model / "generation_config.json").read_text())
    (model / "generation_config.json").write_text(json.dumps({**config, "max_length": 7}))
    weights = launch(tmp_path, *first, "--max-new-tokens", "8")
    assert weights.returncode == 2
    assert "model.content_sha256 was " in the_error(weights)

    assert shard_bytes(run_dir) == kept, "a refused launch writes nothing"
    assert (run_dir / "plan.json").read_bytes() == plan_before


@pytest.mark.slow
def test_a_relaunch_with_other_ranks_batch_and_limit_resumes_and_both_attempts_are_kept(
    tmp_path,
):
    common = ("-m", "tiny-vlm", "-d", "ShapesYN", "--run-name", "r")
    one = launch(tmp_path, *common, "--limit", "4", "--batch-size", "4")
    assert one.returncode == 0, one.stderr[-3000:]
    run_dir = tmp_path / "out" / "tiny-vlm" / "r"
    identity = json.loads((run_dir / "identity.json").read_text())
    two = launch(tmp_path, *common, "--limit", "10", "--batch-size", "2", "--nproc", "2")
    assert two.returncode == 0, two.stderr[-3000:]
    assert "vlmeval: resuming tiny-vlm on ShapesYN" in two.stderr
    assert "resumed 2" in two.stderr  # each of the two ranks found 2 of the first 4 done

    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["identity"] == identity
    assert identity["generation"]["max_new_tokens"] == 8
    assert identity["datasets"]["ShapesYN"] == {
        "kind": "yorn",
        "source": "synthetic",
        "prompt": "yorn",
        "md5": None,
    }
    attempts = manifest["attempts"]
    assert [(a["world_size"], a["batch_size"], a["limit"], a["exit"]) for a in attempts] == [
        (1, 4, 4, 0),
        (2, 2, 10, 0),
    ]
    assert all(a["wall_s"] > 0 for a in attempts)
    assert manifest["wall_s"]["all_attempts"] == pytest.approx(
        sum(a["wall_s"] for a in attempts), abs=0.01
    )


@pytest.mark.slow
def test_restart_moves_the_old_run_aside_and_starts_over(tmp_path):
    common = ("-m", "tiny-vlm", "-d", "ShapesVQA", "--run-name", "r", "--limit", "2")
    assert launch(tmp_path, *common).returncode == 0
    run_dir = tmp_path / "out" / "tiny-vlm" / "r"
    old_predictions = (run_dir / "ShapesVQA" / "predictions.jsonl").read_text()

    again = launch(tmp_path, *common, "--max-new-tokens", "1", "--restart")
    assert again.returncode == 0, again.stderr[-3000:]
    (aside,) = [p for p in run_dir.parent.iterdir() if p.name.startswith("r.replaced-")]
    assert f"vlmeval: moved the previous run aside to {aside}" in again.stderr
    assert (aside / "ShapesVQA" / "predictions.jsonl").read_text() == old_predictions
    identity = json.loads((run_dir / "identity.json").read_text())
    assert identity["generation"]["max_new_tokens"] == 1
    assert "resumed 0" in again.stderr


def test_a_hub_models_commit_comes_from_the_local_cache(tmp_path):
    commit = "a" * 40
    repo = tmp_path / "hub" / "models--org--tiny"
    (repo / "refs").mkdir(parents=True)
    (repo / "refs" / "main").write_text(commit)
    (repo / "snapshots" / commit).mkdir(parents=True)
    (repo / "snapshots" / commit / "config.json").write_text("{}")
    probe = (
        "from vlmeval_core.identity import cached_commit; "
        "print(cached_commit('org/tiny', None), cached_commit('org/other', None))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe],
        env={**fake_nvml.subprocess_env(None, fake=False), "HF_HUB_CACHE": str(tmp_path / "hub")},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.stdout.split() == [commit, "None"], done.stderr


def test_a_resumed_hub_model_is_pinned_to_the_commit_the_run_started_with(tmp_path):
    from vlmeval_core import run_lock
    from vlmeval_core.errors import UsageError
    from vlmeval_core.identity import run_identity
    from vlmeval_core.lifecycle import claim
    from vlmeval_launcher.launch import EvalRequest, resolve_launch

    launch = resolve_launch(
        EvalRequest(
            model="org/tiny",
            data=("ShapesMCQ",),
            device="cpu",
            output=str(tmp_path / "out"),
            data_dir=str(tmp_path / "data"),
            run_name="r",
        )
    )
    identity = run_identity(launch.plan).to_dict()
    assert identity["model"]["commit"] is None, "not in the cache: downloaded by the ranks"

    def claimed(commit: str | None) -> dict:
        found = {**identity, "model": {**identity["model"], "commit": commit}}
        held = claim(launch.plan, found, node_rank=0, nproc=1, nnodes=1, restart=False)
        run_lock.release(held.lock.fd)
        return json.loads(launch.plan_path.read_text())

    assert claimed(None)["model"]["revision"] is None
    assert claimed("a" * 40)["model"]["revision"] == "a" * 40, "the first commit known is kept"
    assert claimed(None)["model"]["revision"] == "a" * 40, "also when the cache lost it"
    with pytest.raises(UsageError, match=f'model.commit was "{"a" * 40}", now "{"b" * 40}"'):
        claimed("b" * 40)
