"""The plan is the launcher→worker contract: it round-trips, and a bad field is named."""

from __future__ import annotations

import json

import pytest

from vlmeval_core.datasets.registry import DatasetRef
from vlmeval_core.errors import UsageError
from vlmeval_core.run_plan import ModelSpec, Plan, load_plan, slug


def make_plan(tmp_path, **overrides) -> Plan:
    fields = dict(
        model=ModelSpec("tiny-vlm", "bundled", "/x/tiny-vlm", batch_size=4, max_new_tokens=8),
        datasets=(DatasetRef("ShapesMCQ", None, "mcq"),),
        device="cpu",
        output_dir=str(tmp_path / "out"),
        run_name="r1",
    )
    fields.update(overrides)
    return Plan(**fields)


def test_a_written_plan_loads_back_equal(tmp_path):
    plan = make_plan(tmp_path, limit=5, seed=3)
    path = plan.write()
    assert path == tmp_path / "out" / "tiny-vlm" / "r1" / "plan.json"
    assert load_plan(path) == plan


def test_hub_ids_become_one_directory_level():
    assert slug("Qwen/Qwen2-VL-2B-Instruct") == "Qwen__Qwen2-VL-2B-Instruct"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda p: p.update(schema=2), "schema: Input should be 1 (got 2)"),
        (lambda p: p.pop("datasets"), "datasets: Field required"),
        (
            lambda p: p["model"].update(batch_size=0),
            "model.batch_size: Input should be greater than or equal to 1 (got 0)",
        ),
        (lambda p: p["model"].update(dtype="fp8"), "model.dtype: Input should be 'auto', "),
        (lambda p: p["model"].update(colour="red"), "model.colour: unknown field"),
        (lambda p: p.update(device="tpu"), "device: Input should be 'cuda' or 'cpu' (got \"tpu\")"),
        (lambda p: p.update(run_name="../escape"), "run_name: String should match pattern"),
        (lambda p: p.update(limit=0), "limit: Input should be greater than or equal to 1 (got 0)"),
        (lambda p: p.update(datasets=[]), "datasets: Tuple should have at least 1 item"),
        (
            lambda p: p["datasets"][0].update(kind="essay"),
            "datasets[0].kind: Input should be 'mcq', 'yorn' or 'vqa' (got \"essay\")",
        ),
    ],
)
def test_a_bad_field_is_refused_with_its_name(tmp_path, change, message):
    raw = make_plan(tmp_path).to_dict()
    change(raw)
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(raw))
    with pytest.raises(UsageError) as caught:
        load_plan(path)
    assert str(caught.value).startswith(str(path))
    assert message in str(caught.value)
    assert caught.value.exit_code == 2


def test_a_file_that_is_not_json_is_named(tmp_path):
    path = tmp_path / "plan.json"
    path.write_text("{not json")
    with pytest.raises(UsageError, match="not a readable JSON plan"):
        load_plan(path)
