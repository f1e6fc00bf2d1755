"""plan.json is checked by its schema: every field of its JSON type, no unknown field.

A hand-edited plan reaches a real rank (``python -m vlmeval_core.worker``),
which stops with exit 2 and one line naming the field before anything runs.
This node's own settings (data dir, GPUs) come from the environment its
launcher set, checked by the same rules.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import make_plan, node_of, worker_env
from vlmeval_core.errors import UsageError
from vlmeval_core.node import ENV_VARIABLE, NodeSettings
from vlmeval_core.run_plan import load_plan


def hand_edited(tmp_path, change) -> tuple[object, str]:
    plan = make_plan(tmp_path, ["ShapesVQA"], limit=2)
    raw = plan.to_dict()
    change(raw)
    path = plan.run_dir / "plan.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(raw))
    return plan, str(path)


EDITS = [
    (
        lambda p: p["model"].update(trust_remote_code="false"),
        'model.trust_remote_code: Input should be a valid boolean (got "false")',
    ),
    (lambda p: p.update(gpus=[1]), "gpus: unknown field"),
    (lambda p: p.update(data_dir="/data"), "data_dir: unknown field"),
    (lambda p: p["model"].update(path=5), "model.path: Input should be a valid string (got 5)"),
    (lambda p: p.update(output_dir=None), "output_dir: Input should be a valid string (got null)"),
    (lambda p: p.update(limit="2"), 'limit: Input should be a valid integer (got "2")'),
    (lambda p: p.update(seed=1.5), "seed: Input should be a valid integer (got 1.5)"),
    (lambda p: p["model"].update(batch_size=True), "model.batch_size: Input should be a valid"),
    (
        lambda p: p["model"].update(max_new_tokens=10**20),
        "model.max_new_tokens: Input should be less than or equal to 65536",
    ),
    (
        lambda p: p["model"].update(batch_size=4097),
        "model.batch_size: Input should be less than or equal to 4096",
    ),
    (
        lambda p: p["datasets"][0].update(name="../ShapesVQA"),
        "datasets[0].name: String should match pattern",
    ),
    (lambda p: p.update(datasets=p["datasets"] * 2), "dataset names repeat"),
]


@pytest.mark.parametrize(("change", "message"), EDITS)
def test_a_hand_edited_plan_is_refused_naming_the_field(tmp_path, change, message):
    _, path = hand_edited(tmp_path, change)
    with pytest.raises(UsageError) as caught:
        load_plan(path)
    assert str(caught.value).startswith(f"{path}: {message}")
    assert caught.value.exit_code == 2


@pytest.mark.slow
def test_a_rank_refuses_a_string_for_a_bool_before_running_any_code(tmp_path):
    plan, path = hand_edited(tmp_path, lambda p: p["model"].update(trust_remote_code="false"))
    done = subprocess.run(
        [sys.executable, "-m", "vlmeval_core.worker", path],
        env=worker_env(plan),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr == (
        f"vlmeval: error: {path}: model.trust_remote_code: Input should be a valid boolean "
        '(got "false")\n'
    )
    assert not (plan.run_dir / "ShapesVQA").exists(), "nothing was predicted"


def test_node_settings_travel_in_the_environment_and_are_checked_too(tmp_path):
    plan = make_plan(tmp_path, ["ShapesVQA"])
    node = NodeSettings(
        str(tmp_path / "data"),
        ({"index": 0, "uuid": "GPU-a", "name": "NVIDIA H100", "memory_total_mib": 81559},),
    )
    assert NodeSettings.from_env(node.to_env()) == node
    assert NodeSettings.from_env({}).data_dir.endswith("LMUData")
    assert node_of(plan).gpus == ()
    bad = {ENV_VARIABLE: json.dumps({"data_dir": str(tmp_path), "gpus": [1]})}
    with pytest.raises(UsageError, match=rf"^{ENV_VARIABLE}: gpus\[0\]: Input should be an object"):
        NodeSettings.from_env(bad)
