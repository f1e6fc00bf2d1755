"""One meaning of "on" for a switch, and of "offline", wherever it is read.

Before, the true-set was stated four times and "offline" parsed three ways:
``VLMEVAL_OFFLINE=1`` stopped downloads but still let the launcher probe the hub, and
the ranks' hub client was never told.
"""

from __future__ import annotations

import pytest

from vlmeval_core.env_flags import is_offline, is_set
from vlmeval_core.models.record import ModelSpec
from vlmeval_launcher import hub_reach

HUB_MODEL = ModelSpec("someorg/some-vlm", "hub", "someorg/some-vlm")


@pytest.mark.parametrize("value", ["1", "true", "TRUE", " yes ", "on"])
def test_a_switch_is_on_for_each_spelling_of_true(value):
    assert is_set("X", {"X": value})


@pytest.mark.parametrize("value", ["", "0", "false", "no", "off", "2"])
def test_a_switch_is_off_otherwise(value):
    assert not is_set("X", {"X": value}) and not is_set("X", {})


@pytest.mark.parametrize("name", ["VLMEVAL_OFFLINE", "HF_HUB_OFFLINE"])
def test_either_variable_means_offline(name):
    assert is_offline({name: "1"}) and not is_offline({name: "0"})


def test_vlmeval_offline_alone_skips_the_hub_probe_and_tells_the_ranks(monkeypatch):
    probed: list[str] = []
    monkeypatch.setattr(hub_reach, "unreachable", lambda url, *a, **k: probed.append(url))
    verdict = hub_reach.check_hub(HUB_MODEL, {"VLMEVAL_OFFLINE": "1"})
    assert probed == [], "no network is asked when offline"
    assert verdict.environment == {"HF_HUB_OFFLINE": "1"} and verdict.note is None


def test_hf_hub_offline_skips_the_probe_with_nothing_to_add(monkeypatch):
    monkeypatch.setattr(hub_reach, "unreachable", lambda url, *a, **k: pytest.fail(url))
    assert hub_reach.check_hub(HUB_MODEL, {"HF_HUB_OFFLINE": "1"}).environment == {}


def test_doctor_reads_the_hub_switches_through_the_one_true_set(monkeypatch):
    from vlmeval_core import env_flags
    from vlmeval_launcher.doctor import _offline_check

    for value, on in [(" TRUE ", True), ("yes", True), ("2", False), ("off", False)]:
        assert _offline_check({"TRANSFORMERS_OFFLINE": value}).detail.startswith("on ") is on
    monkeypatch.setattr(env_flags, "TRUE_VALUES", env_flags.TRUE_VALUES | {"y"})
    assert _offline_check({"HF_HUB_OFFLINE": "y"}).detail.startswith("on (HF_HUB_OFFLINE)")
