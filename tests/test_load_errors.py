"""A model that fails to load is reported by its real cause: a cache miss only where the hub
says the files are not in the cache, a missing package as one, anything else as itself
(before, every failure under HF_HUB_OFFLINE=1 read "not in the cache … run vlmeval fetch")."""

from __future__ import annotations

import json

import pytest
from huggingface_hub import constants
from huggingface_hub.errors import LocalEntryNotFoundError

from conftest import make_plan, run_worker
from tiny_models import build_smolvlm
from vlmeval_core.errors import RuntimeFailure
from vlmeval_core.models.hf import _load_error
from vlmeval_core.models.record import ModelSpec

HUB = ModelSpec("SmolVLM-Instruct", "hub", "HuggingFaceTB/SmolVLM-Instruct")
NUM2WORDS = "Package `num2words` is required to run SmolVLM processor."


@pytest.fixture
def offline(monkeypatch):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)


def raised_from(outer: Exception, inner: Exception) -> Exception:
    try:
        try:
            raise inner
        except Exception as exc:
            raise outer from exc
    except Exception as exc:
        return exc


def test_a_missing_package_offline_is_named_not_taken_for_a_cache_miss(offline):
    error = _load_error(HUB, "processor", ImportError(NUM2WORDS))
    assert isinstance(error, RuntimeFailure)
    assert "not in the cache" not in str(error)
    assert str(error) == (
        "model 'HuggingFaceTB/SmolVLM-Instruct': its processor needs a package that is not "
        f"installed: {NUM2WORDS}"
    )


def test_a_broken_file_offline_is_reported_as_itself(offline):
    error = _load_error(HUB, "processor", ValueError("Expecting value: line 1 column 1"))
    assert str(error) == (
        "model 'HuggingFaceTB/SmolVLM-Instruct': loading its processor failed: "
        "Expecting value: line 1 column 1"
    )


def test_a_cache_miss_is_one_whatever_wraps_it(offline):
    wrapped = raised_from(OSError("We couldn't connect"), LocalEntryNotFoundError("not cached"))
    assert "is not in the cache" in str(_load_error(HUB, "model", wrapped))


def test_a_local_directory_missing_a_package_names_the_package():
    local = ModelSpec("smol", "local", "/models/smol")
    error = _load_error(local, "processor", ImportError(NUM2WORDS))
    assert "has no loadable" not in str(error) and NUM2WORDS in str(error)


@pytest.mark.slow
def test_a_cached_hub_model_whose_processor_is_broken_names_the_file_offline(tmp_path):
    """The registered name, in a filled cache, offline: its broken processor config is the
    error (exit 3), not a cache miss."""
    snapshot = tmp_path / "hf" / "hub" / "models--HuggingFaceTB--SmolVLM-Instruct"
    (snapshot / "refs").mkdir(parents=True)
    (snapshot / "refs" / "main").write_text("0" * 40)
    files = build_smolvlm(snapshot / "snapshots" / ("0" * 40))
    processor_config = files / "processor_config.json"
    processor_config.write_text(json.dumps(json.loads(processor_config.read_text()))[:-5])
    plan = make_plan(tmp_path, ["ShapesVQA"], limit=2, model=HUB)
    done = run_worker(plan, HF_HOME=str(tmp_path / "hf"), HF_HUB_OFFLINE="1")
    assert done.returncode == 3, done.stderr[-3000:]
    last = done.stderr.strip().splitlines()[-1]
    assert "not in the cache" not in last
    assert last.startswith(
        "vlmeval: error: model 'HuggingFaceTB/SmolVLM-Instruct': loading its processor failed:"
    )
