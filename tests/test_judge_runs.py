"""``vlmeval score --judge`` against a local OpenAI-compatible server: the judge's files and
cache, a rerun that asks nothing, the key never written, and the faults (unparsable answers,
429, 500, a stall, a judge dead at launch and mid-run)."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from catalog_fixtures import md5_of, png_b64, tsv_bytes
from misbehaving_server import MODELS_ANSWER, MisbehavingServer, Step, completion
from vlmeval_core.judge.cache import CACHE_FILE
from vlmeval_core.summary_page import summary_markdown
from vlmeval_launcher.cli import main

KEY = "sk-judge-secret-0123456789"
N = 4


@pytest.fixture
def mmvet(tmp_path, monkeypatch) -> Path:
    """MMVet.tsv (N items) in the data dir, and a predictions file; returns the tmp dir."""
    rows = pd.DataFrame(
        {
            "index": range(N),
            "image": [png_b64()] * N,
            "question": [f"What is shown {i}?" for i in range(N)],
            "answer": ["a red square"] * N,
            "category": ["rec", "rec,ocr", "ocr", "math"][:N],
        }
    )
    data = tmp_path / "data"
    data.mkdir()
    (data / "MMVet.tsv").write_bytes(tsv_bytes(rows))
    monkeypatch.setenv("VLMEVAL_DATA_MD5_MMVET", md5_of((data / "MMVet.tsv").read_bytes()))
    monkeypatch.setenv("VLMEVAL_JUDGE_KEY", KEY)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    pd.DataFrame({"index": range(N), "prediction": ["a square"] * N}).to_csv(
        tmp_path / "m_MMVet.csv", index=False
    )
    return tmp_path


def score(where: Path, base: str, *extra: str, judge: str = "fake-judge"):
    return CliRunner().invoke(
        main,
        [
            *("score", str(where / "m_MMVet.csv"), "-d", "MMVet", "-o", str(where / "out")),
            *("--data-dir", str(where / "data"), "--judge", judge, "--judge-base", base, *extra),
        ],
    )


def scores_of(where: Path) -> dict:
    return json.loads((where / "out" / "MMVet" / "scores.json").read_text())


def test_score_with_a_judge_writes_its_files_and_a_rerun_asks_nothing(mmvet):
    with MisbehavingServer(answer="0.5") as server:
        first = score(mmvet, server.base_url)
        asked = len(server.completions())
        again = score(mmvet, server.base_url)

        assert first.exit_code == 0, first.output
        assert again.exit_code == 0, again.output
        assert asked == N and len(server.completions()) == N
        request = server.completions()[0]
    out = mmvet / "out" / "MMVet"
    for name in ("m_MMVet_fake-judge.xlsx", "m_MMVet_fake-judge_score.csv",
                 "m_MMVet_fake-judge_score_fine.csv", CACHE_FILE):  # fmt: skip
        assert (out / name).is_file(), name
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.body["model"] == "fake-judge"
    assert (request.body["temperature"], request.body["max_tokens"]) == (0, 3)
    scores = scores_of(mmvet)
    assert scores["overall"] == pytest.approx(0.5)
    assert scores["judge"]["requests"] == 0 and scores["judge"]["model"] == "fake-judge"
    assert scores["judge_fallbacks"] == 0
    assert scores["judge"]["models"] == MODELS_ANSWER  # the judge server's /models answer
    written = [p.read_bytes() for p in (mmvet / "out").rglob("*") if p.is_file()]
    assert not any(KEY.encode() in data for data in written)


def test_another_judge_is_asked_anew_and_named_in_its_files(mmvet):
    with MisbehavingServer(answer="1.0") as server:
        assert score(mmvet, server.base_url).exit_code == 0
        other = score(mmvet, server.base_url, judge="other-judge")
        assert other.exit_code == 0, other.output
        assert len(server.completions()) == 2 * N
    assert (mmvet / "out" / "MMVet" / "m_MMVet_other-judge_score.csv").is_file()
    assert scores_of(mmvet)["overall"] == pytest.approx(1.0)


def test_unparsable_answers_are_retried_five_times_then_score_zero_and_are_counted(mmvet):
    with MisbehavingServer(answer="banana") as server:
        done = score(mmvet, server.base_url)
        temperatures = [s.body["temperature"] for s in server.completions()]
    assert done.exit_code == 0, done.output
    assert len(temperatures) == 5 * N and sorted(set(temperatures)) == [0, 0.5, 1.0, 1.5, 2.0]
    scores = scores_of(mmvet)
    assert scores["judge_fallbacks"] == N and scores["overall"] == 0.0
    assert scores["judge"]["requests"] == 5 * N
    page = summary_markdown({"model": "m", "run": "r", "datasets": {}}, {"MMVet": scores})
    assert f"- judge fake-judge: {5 * N} requests this time;" in page
    assert page.split("- judge fake-judge:")[1].splitlines()[0].endswith(f": {N}")


def test_429_500_and_a_stall_are_retried_by_the_endpoint_client(mmvet):
    good = json.dumps(completion("0.7")).encode()
    script = [
        Step(429, b'{"error": {"message": "slow down"}}', {"retry-after": "0"}),
        Step(500, b"oops"),
        Step(stall_s=3, body=good),
    ]
    with MisbehavingServer(script, answer="0.7") as server:
        done = score(mmvet, server.base_url, "--judge-timeout", "1", "--judge-concurrency", "1")
        requests = len(server.completions())
    assert done.exit_code == 0, done.output
    assert requests == N + 3
    assert scores_of(mmvet)["overall"] == pytest.approx(0.7)
    assert scores_of(mmvet)["judge_fallbacks"] == 0


def test_a_dead_judge_stops_at_launch_with_exit_3_naming_its_url(mmvet):
    with MisbehavingServer() as server:
        base = server.base_url
    done = score(mmvet, base)
    assert done.exit_code == 3
    lines = done.output.strip().splitlines()
    assert len(lines) == 1 and base in lines[0] and "judge" in lines[0], done.output
    assert not (mmvet / "out" / "MMVet" / "scores.json").exists()


def test_mmvet_without_a_judge_stops_with_exit_2_and_one_line(mmvet):
    done = CliRunner().invoke(
        main,
        ["score", str(mmvet / "m_MMVet.csv"), "-d", "MMVet", "--data-dir", str(mmvet / "data")],
    )
    assert done.exit_code == 2
    assert done.output.count("\n") == 1 and "--judge MODEL" in done.output


@pytest.mark.slow
def test_a_judge_dying_mid_run_keeps_its_answers_and_a_rerun_asks_only_the_rest(mmvet):
    first = MisbehavingServer(answer="0.25")
    port = int(first.base_url.rsplit(":", 1)[1].split("/")[0])

    def kill_after_two() -> None:
        while len(first.completions()) < 2:
            time.sleep(0.01)
        first.go_away()

    with first:
        threading.Thread(target=kill_after_two, daemon=True).start()
        dead = score(mmvet, first.base_url, "--judge-concurrency", "1")
    assert dead.exit_code == 3, dead.output
    assert "judge server at" in dead.output
    cached = (mmvet / "out" / "MMVet" / CACHE_FILE).read_text().splitlines()
    assert len(cached) >= 2
    with MisbehavingServer(answer="0.25", port=port) as second:
        done = score(mmvet, second.base_url, "--judge-concurrency", "1")
        assert done.exit_code == 0, done.output
        assert len(second.completions()) == N - len(cached)
