"""The judge's cache: what its key holds, answers kept across a torn last line, and a refused
key named in the judge's words."""

from __future__ import annotations

import pytest

from misbehaving_server import MisbehavingServer, Step
from vlmeval_core.errors import UsageError
from vlmeval_core.judge.cache import CACHE_FILE, JudgeCache, cache_key
from vlmeval_core.judge.client import Judge
from vlmeval_core.judge.spec import JudgeSpec

FIELDS = {"temperature": 0, "max_tokens": 3}


def test_the_key_changes_with_model_server_each_field_and_the_prompt():
    key = cache_key("m", "http://a/v1", FIELDS, "p")
    assert key == cache_key("m", "http://a/v1", dict(reversed(FIELDS.items())), "p")
    others = {
        cache_key("n", "http://a/v1", FIELDS, "p"),
        cache_key("m", "http://b/v1", FIELDS, "p"),
        cache_key("m", "http://a/v1", {**FIELDS, "temperature": 0.5}, "p"),
        cache_key("m", "http://a/v1", {**FIELDS, "seed": 1}, "p"),
        cache_key("m", "http://a/v1", FIELDS, "p "),
    }
    assert key not in others and len(others) == 5


def test_answers_survive_a_torn_last_line_and_the_next_answer_starts_a_line_of_its_own(tmp_path):
    path = tmp_path / CACHE_FILE
    cache = JudgeCache(path)
    cache.put("k1", "m", "0.5")
    with open(path, "ab") as handle:  # a kill -9 in the middle of an append
        handle.write(b'{"key": "k2", "judge": "m", "ans')
    reread = JudgeCache(path)
    assert (reread.get("k1"), reread.get("k2"), len(reread)) == ("0.5", None, 1)
    reread.put("k3", "m", "1.0")
    again = JudgeCache(path)
    assert (again.get("k1"), again.get("k3"), len(again)) == ("0.5", "1.0", 2)


def test_a_rerun_answers_from_the_cache_without_a_request(tmp_path):
    with MisbehavingServer(answer="0.5") as server:
        spec = JudgeSpec(model="j", base_url=server.base_url)
        first = Judge(spec, JudgeCache(tmp_path / CACHE_FILE))
        assert first.ask("p", 0, 3) == "0.5" and first.ask("p", 0, 3, attempt=1) == "0.5"
        second = Judge(spec, JudgeCache(tmp_path / CACHE_FILE))
        assert second.ask("p", 0, 3) == "0.5" and second.requests == 0
        assert len(server.completions()) == 2  # a try of its own is asked anew


def test_a_key_the_judge_server_refuses_stops_with_the_judge_s_variable(tmp_path):
    refused = Step(401, b'{"error": {"message": "bad key"}}')
    with MisbehavingServer([refused]) as server:
        judge = Judge(JudgeSpec(model="j", base_url=server.base_url), JudgeCache(tmp_path / "c"))
        with pytest.raises(UsageError, match=r"the judge: .*VLMEVAL_JUDGE_KEY"):
            judge.ask("p", 0, 3)
