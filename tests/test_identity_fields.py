"""The identity, the manifest's model block and the flags derived from the model record
(issue 18, point 4): every field of :class:`ModelSpec` is part of the run's identity
unless :data:`PREDICTION_NEUTRAL` names it with its reason, so a field added to the
record is covered without anyone copying it; identity.json files written before this
still compare equal; a record's ``gpus_per_model`` counts unless the flag sets it."""

from __future__ import annotations

import dataclasses
import typing
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Literal, get_args, get_origin

import pytest
from pydantic.dataclasses import dataclass as pydantic_dataclass

import fake_nvml
from vlmeval_core.datasets.registry import resolve_dataset
from vlmeval_core.identity import PREDICTION_NEUTRAL, differences, run_identity
from vlmeval_core.models import registry
from vlmeval_core.models.record import ModelSpec
from vlmeval_core.run_plan import EndpointSpec, Plan
from vlmeval_launcher import launch
from vlmeval_launcher.eval_flags import EvalRequest

FIELDS = {field.name: field for field in dataclasses.fields(ModelSpec)}

OTHER_VALUES: dict[str, Any] = {
    "source": "bundled",
    "prompt_family": "qwen2-vl",
    "processor": {"max_pixels": 3136},
}
"""Another valid value for the fields a generic change would make invalid."""


def another_value(name: str, value: Any, other_dir: Path) -> Any:
    """A valid value of the record's field ``name`` other than ``value``."""
    if name == "path":
        return str(other_dir)
    if name in OTHER_VALUES:
        return OTHER_VALUES[name]
    hint = typing.get_type_hints(ModelSpec, include_extras=False)[name]
    if get_origin(hint) is Literal:
        return next(choice for choice in get_args(hint) if choice != value)
    if isinstance(value, bool):
        return not value
    if isinstance(value, int | float):
        return value + 1
    if isinstance(value, dict):
        return {**value, "other": 1}
    return f"{value}-other" if isinstance(value, str) else "other"


def identity_of(spec: ModelSpec) -> dict[str, Any]:
    """The identity of a plan running ``spec`` (the plan's other parts fixed)."""
    plan = SimpleNamespace(
        model=spec, endpoint=None, datasets=(), device="cpu", seed=0, shards=1, judge=None
    )
    return run_identity(plan).to_dict()  # type: ignore[arg-type]


@pytest.fixture
def model_dirs(tmp_path, monkeypatch) -> tuple[Path, Path]:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))  # an empty cache: no commit known
    dirs = tmp_path / "a", tmp_path / "b"
    for directory in dirs:
        directory.mkdir()
        (directory / "config.json").write_text(directory.name)
    return dirs


def test_every_record_field_changes_the_identity_unless_it_is_listed_as_neutral(model_dirs):
    base = ModelSpec("m", "local", str(model_dirs[0]))
    old = identity_of(base)
    assert set(PREDICTION_NEUTRAL) <= set(FIELDS), "a listed field the record no longer has"
    for name in FIELDS:
        value = another_value(name, getattr(base, name), model_dirs[1])
        changed = differences(old, identity_of(dataclasses.replace(base, **{name: value})))
        if name in PREDICTION_NEUTRAL:
            assert changed == [], (name, changed)
        else:
            assert changed, f"ModelSpec.{name} can change a prediction but not the identity"


def test_a_field_added_to_the_record_is_in_the_identity_without_more_code(model_dirs):
    """What a new field of the record (say a sampling temperature) gets: it is compared."""

    @pydantic_dataclass(frozen=True)
    class WiderSpec(ModelSpec):
        temperature: float = 0.0

    spec = WiderSpec("m", "local", str(model_dirs[0]))
    identity = identity_of(spec)
    assert identity["model"]["temperature"] == 0.0
    warmer = identity_of(dataclasses.replace(spec, temperature=0.7))
    assert differences(identity, warmer) == ["model.temperature was 0.0, now 0.7"]


def test_each_neutral_field_says_why_it_cannot_change_a_prediction():
    assert set(PREDICTION_NEUTRAL) == {"batch_size", "gpus_per_model"}
    assert all(len(reason) > 20 for reason in PREDICTION_NEUTRAL.values())


# What identity.json held for these plans before the identity was derived from the record
# (written by the hand-copied ModelIdentity): an unchanged configuration still resumes.
_SHAPES = {"ShapesMCQ": {"kind": "mcq", "md5": None, "prompt": "mcq", "source": "synthetic"}}
_HI_SHA256 = "dd2fd33fe43973a60003436ce49411f01938cf18e98edb63fe7050cd497f991d"
"""directory_sha256 of a directory holding config.json with ``hi\\n``."""
_NONE = {"api_base": None, "api_extra": None, "commit": None, "content_sha256": None}
WRITTEN_BEFORE = {
    "hub": {
        "datasets": _SHAPES,
        "device": "cuda",
        "generation": {"do_sample": False, "max_new_tokens": 32},
        "model": {**_NONE, "backend": "transformers", "dtype": "auto",
                  "hub_id": "Qwen/Qwen2-VL-2B-Instruct", "images": "vlmevalkit",
                  "name": "Qwen2-VL-2B-Instruct", "processor": {"min_pixels": 3136},
                  "prompt_family": "qwen2-vl", "revision": "main", "source": "hub",
                  "trust_remote_code": False},
        "seed": 3,
    },
    "local": {
        "datasets": _SHAPES,
        "device": "cpu",
        "generation": {"do_sample": False, "max_new_tokens": 7},
        "model": {**_NONE, "backend": "transformers",
                  "content_sha256": _HI_SHA256,
                  "dtype": "float32", "hub_id": None, "images": "vlmevalkit", "name": "m",
                  "processor": {}, "prompt_family": "dataset", "revision": None,
                  "source": "local", "trust_remote_code": False},
        "seed": 0,
    },
    "api": {
        "datasets": _SHAPES,
        "device": "cpu",
        "generation": {"do_sample": False, "max_new_tokens": 32},
        "model": {**_NONE, "api_base": "http://127.0.0.1:8000/v1", "api_extra": {"top_k": 1},
                  "backend": "api", "dtype": "auto", "hub_id": None, "images": "vlmevalkit",
                  "name": "served", "processor": {}, "prompt_family": "dataset",
                  "revision": None, "source": "api", "trust_remote_code": False},
        "seed": 0,
    },
}  # fmt: skip


def test_an_identity_written_before_compares_equal_for_the_same_configuration(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    model = tmp_path / "model"
    model.mkdir()
    (model / "config.json").write_text("hi\n")
    shapes = (resolve_dataset("ShapesMCQ"),)
    qwen = ModelSpec(
        "Qwen2-VL-2B-Instruct",
        "hub",
        "Qwen/Qwen2-VL-2B-Instruct",
        revision="main",
        processor={"min_pixels": 3136},
        prompt_family="qwen2-vl",
    )
    local = ModelSpec(
        "m", "local", str(model), dtype="float32", batch_size=4, max_new_tokens=7, gpus_per_model=2
    )
    served = ModelSpec("served", None, "served", backend="api", batch_size=1)
    plans = {
        "hub": Plan(qwen, shapes, "cuda", "/out", "r", seed=3),
        "local": Plan(local, shapes, "cpu", "/out", "r"),
        "api": Plan(served, shapes, "cpu", "/out", "r",
                    endpoint=EndpointSpec("http://127.0.0.1:8000/v1", {"top_k": 1})),
    }  # fmt: skip
    for name, plan in plans.items():
        assert run_identity(plan).to_dict() == WRITTEN_BEFORE[name], name


def test_the_manifest_model_block_is_the_whole_record_and_the_resolved_commit(tmp_path):
    from vlmeval_core.manifest import build_manifest
    from vlmeval_core.node import NodeSettings

    record = registry.MODELS["Qwen2-VL-2B-Instruct"]
    plan = Plan(record, (resolve_dataset("ShapesMCQ"),), "cpu", str(tmp_path), "r")
    model = build_manifest(plan, NodeSettings(str(tmp_path), ()), 1, "abc", {}, {})["model"]
    assert model == {**dataclasses.asdict(record), "resolved_commit": "abc"}


# --- the flags on top of the record -----------------------------------------------------


def test_every_flag_named_like_a_record_field_defaults_to_not_given():
    """A flag with a default of its own would override every record's value."""
    shared = [f for f in dataclasses.fields(EvalRequest) if f.name in FIELDS]
    assert {f.name for f in shared} >= {"batch_size", "dtype", "gpus_per_model", "images"}
    assert [f.name for f in shared if f.default is not None] == []


def test_each_given_flag_named_like_a_record_field_replaces_it():
    record = ModelSpec("m", "hub", "org/m", gpus_per_model=2, batch_size=3)
    kept = launch.apply_flags(record, EvalRequest(model="m", data=("ShapesMCQ",)))
    assert kept == record
    request = EvalRequest(model="m", data=("ShapesMCQ",), gpus_per_model=1, max_new_tokens=5)
    flagged = launch.apply_flags(record, request)
    assert (flagged.gpus_per_model, flagged.max_new_tokens, flagged.batch_size) == (1, 5, 3)


def test_a_records_gpus_per_model_counts_unless_the_flag_sets_it(monkeypatch, tmp_path):
    fake_nvml.clean_env(monkeypatch)
    fake_nvml.install(monkeypatch, fake_nvml.gpus(4))
    monkeypatch.chdir(tmp_path)
    wide = dataclasses.replace(registry.MODELS["tiny-vlm"], gpus_per_model=2)
    monkeypatch.setitem(registry.MODELS, "tiny-vlm", wide)
    args: dict[str, Any] = {"model": "tiny-vlm", "data": ("ShapesMCQ",), "device": "cuda"}
    args["data_dir"] = str(tmp_path / "data")
    planned = launch.resolve_launch(EvalRequest(**args))
    assert (planned.plan.model.gpus_per_model, planned.nproc) == (2, 2)
    flagged = launch.resolve_launch(EvalRequest(**args, gpus_per_model=1))
    assert (flagged.plan.model.gpus_per_model, flagged.nproc) == (1, 4)
