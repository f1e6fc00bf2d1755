"""The endpoint backend's faults, against a local server that misbehaves on cue.

Connection errors, timeouts, 429 (at least its Retry-After apart) and 5xx are
retried with backoff; 401, 403 and 404 (a refused key, a model the server does
not serve, a wrong base URL) stop the run, exit 2, with the fix; any other 4xx and
a malformed answer fail that item with the server's words (a key it echoes
masked); a server that cannot be reached stops the run, exit 3, within 60 s, with
one line naming the URL.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from endpoint_runs import endpoint_eval as vlmeval_eval
from misbehaving_server import MisbehavingServer, Step, completion
from vlmeval_core.endpoint.client import EndpointClient, ItemFailed, RetryPolicy
from vlmeval_core.errors import RuntimeFailure
from vlmeval_core.run_plan import EndpointSpec

VLMEVAL = str(Path(sys.executable).parent / "vlmeval")
FAST = RetryPolicy(attempts=3, base_s=0.05, cap_s=0.1)
IMAGE = Image.new("RGB", (8, 6), (200, 10, 30))


def client(server: MisbehavingServer, timeout_s: float = 5.0, **extra) -> EndpointClient:
    spec = EndpointSpec(base_url=server.base_url, extra=extra, timeout_s=timeout_s)
    return EndpointClient(spec, "fake-vlm", policy=FAST, key="sk-test-key")


def ask(text: str) -> list[dict]:
    """One item's messages in VLMEvalKit's format: the image, then the question."""
    return [{"type": "image", "value": IMAGE}, {"type": "text", "value": text}]


def json_body(payload: object) -> bytes:
    return json.dumps(payload).encode()


def test_a_request_carries_the_image_as_png_data_url_greedy_settings_extra_fields_and_key():
    with MisbehavingServer(answer="  B \n") as server:
        answer = client(server, top_k=1).answer(ask("Which colour?"), None, 8)
    assert answer == "B"
    (seen,) = server.completions()
    body = seen.body
    assert body["model"] == "fake-vlm"
    assert body["temperature"] == 0 and body["max_tokens"] == 8 and body["top_k"] == 1
    (message,) = body["messages"]
    image_part, text_part = message["content"]
    assert text_part == {"type": "text", "text": "Which colour?"}
    url = image_part["image_url"]["url"]
    assert url.startswith("data:image/png;base64,")
    sent = Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1])))
    assert sent.tobytes() == IMAGE.tobytes(), "lossless: the very pixels"
    assert seen.headers["Authorization"] == "Bearer sk-test-key"


def test_a_familys_system_prompt_goes_first_as_the_in_process_chat_has_it():
    with MisbehavingServer(answer="A") as server:
        client(server).answer(ask("q"), "You are a helpful assistant. ", 4)
    (seen,) = server.completions()
    system, user = seen.body["messages"]
    assert system == {
        "role": "system",
        "content": [{"type": "text", "text": "You are a helpful assistant. "}],
    }
    assert user["role"] == "user" and user["content"][-1] == {"type": "text", "text": "q"}


def test_the_servers_models_answer_is_kept_for_the_manifest():
    with MisbehavingServer() as server:
        assert client(server).server_models["data"][0]["id"] == "fake-vlm"


def test_429_is_retried_no_sooner_than_its_retry_after():
    limited = Step(429, json_body({"error": {"message": "slow down"}}), {"Retry-After": "1"})
    with MisbehavingServer([limited], answer="C") as server:
        assert client(server).answer(ask("q"), None, 4) == "C"
    first, second = server.completions()
    assert second.at - first.at >= 1.0


def test_5xx_is_retried_until_it_clears():
    failing = Step(500, json_body({"error": {"message": "boom"}}))
    with MisbehavingServer([failing, Step(503, b"busy")], answer="D") as server:
        assert client(server).answer(ask("q"), None, 4) == "D"
    assert len(server.completions()) == 3


def test_a_5xx_that_never_clears_fails_the_item_with_the_servers_message():
    script = [Step(500, json_body({"error": {"message": "model crashed"}}))] * 3
    with MisbehavingServer(script) as server, pytest.raises(ItemFailed, match="model crashed"):
        client(server).answer(ask("q"), None, 4)
    assert len(server.completions()) == FAST.attempts


def test_another_4xx_fails_the_item_at_once_with_the_servers_message():
    refused = Step(400, json_body({"error": {"message": "image too large for this model"}}))
    with (
        MisbehavingServer([refused]) as server,
        pytest.raises(ItemFailed, match="HTTP 400: image too large for this model"),
    ):
        client(server).answer(ask("q"), None, 4)
    assert len(server.completions()) == 1, "a 4xx other than 429 is not retried"


def test_malformed_json_fails_the_item_naming_what_came_back():
    with (
        MisbehavingServer([Step(200, b"{not json")]) as server,
        pytest.raises(ItemFailed, match=re.escape("not JSON: '{not json'")),
    ):
        client(server).answer(ask("q"), None, 4)


def test_an_answer_without_a_message_fails_the_item():
    with (
        MisbehavingServer([Step(200, json_body({"choices": []}))]) as server,
        pytest.raises(ItemFailed, match=r"no choices\[0\]\.message\.content"),
    ):
        client(server).answer(ask("q"), None, 4)


def test_a_dropped_connection_is_retried():
    with MisbehavingServer([Step(drop=True)], answer="A") as server:
        assert client(server).answer(ask("q"), None, 4) == "A"
    assert len(server.completions()) == 2


def test_a_stall_longer_than_the_timeout_is_cut_and_retried():
    with MisbehavingServer([Step(stall_s=3.0)], answer="B") as server:
        assert client(server, timeout_s=0.5).answer(ask("q"), None, 4) == "B"
    assert len(server.completions()) == 2


def test_a_server_that_always_stalls_fails_the_item_naming_the_timeout():
    script = [Step(stall_s=2.0)] * 3
    with (
        MisbehavingServer(script) as server,
        pytest.raises(ItemFailed, match=r"no answer within 0.5 s \(--api-timeout\)"),
    ):
        client(server, timeout_s=0.5).answer(ask("q"), None, 4)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_client_for_a_closed_port_stops_the_run_naming_the_url():
    url = f"http://127.0.0.1:{free_port()}/v1"
    with pytest.raises(RuntimeFailure, match=f"the API server at {url}/models cannot be reached"):
        EndpointClient(EndpointSpec(base_url=url), "m", policy=FAST)


@pytest.mark.slow  # ~15 s: the client's connect retries
def test_an_unreachable_server_stops_the_run_within_60_s_with_exit_3_and_one_line(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/v1"
    started = time.monotonic()
    done = vlmeval_eval(tmp_path, url, "--limit", "4")
    took = time.monotonic() - started
    assert done.returncode == 3, done.stderr
    assert took < 60
    errors = [line for line in done.stderr.splitlines() if line.startswith("vlmeval: error:")]
    assert len(errors) == 1 and url in errors[0], done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.slow  # ~6 s: a vlmeval eval through four faults
def test_a_run_through_faults_finishes_and_records_the_refused_item(tmp_path):
    script = [
        Step(429, b"{}", {"Retry-After": "0"}),
        Step(500, b"oops"),
        Step(drop=True),
        Step(400, json_body({"error": {"message": "unsupported image"}})),
    ]
    with MisbehavingServer(script, answer="A") as server:
        done = vlmeval_eval(tmp_path, server.base_url, "--limit", "6", "--api-concurrency", "1")
    assert done.returncode == 0, done.stderr
    run_dir = tmp_path / "out" / "fake-vlm" / "r"
    records = [
        json.loads(x)
        for x in (run_dir / "ShapesMCQ/predictions.jsonl").read_text().split("\n")
        if x
    ]
    assert len(records) == 6
    refused = [r for r in records if r["error"]]
    assert len(refused) == 1 and "HTTP 400: unsupported image" in refused[0]["error"]
    assert all(r["prediction"] == "A" for r in records if not r["error"])
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["endpoint"]["base_url"] == server.base_url
    assert manifest["endpoint"]["models"]["data"][0]["id"] == "fake-vlm"
    assert manifest["model"]["name"] == "fake-vlm" and manifest["model"]["backend"] == "api"


@pytest.mark.slow  # ~14 s: the retries after the server is gone
def test_a_server_gone_mid_run_stops_it_with_exit_3_keeping_the_answers(tmp_path):
    with MisbehavingServer(answer="B") as server:
        process = subprocess.Popen(
            [
                *(VLMEVAL, "eval", "--api-base", server.base_url, "-m", "fake-vlm"),
                *("-d", "ShapesMCQ", "--output", str(tmp_path / "out")),
                *("--data-dir", str(tmp_path / "data"), "--run-name", "r"),
                *("--limit", "200", "--api-concurrency", "1"),
            ],
            env={**os.environ, "HF_HUB_OFFLINE": "1"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        checkpoint = tmp_path / "out" / "fake-vlm" / "r" / "ShapesMCQ" / ".shards" / "rank-0.jsonl"
        deadline = time.monotonic() + 120
        while not (checkpoint.exists() and checkpoint.read_bytes().count(b"\n") >= 3):
            assert time.monotonic() < deadline and process.poll() is None, process.stderr.read()
            time.sleep(0.05)
        server.go_away()
        stopped = time.monotonic()
        _, stderr = process.communicate(timeout=120)
    assert process.returncode == 3, stderr
    assert time.monotonic() - stopped < 60
    errors = [line for line in stderr.splitlines() if line.startswith("vlmeval: error:")]
    assert len(errors) == 1 and f"the API server at {server.base_url}" in errors[0], stderr
    kept = [json.loads(line) for line in checkpoint.read_text().splitlines()]
    assert len(kept) >= 3 and all(r["prediction"] == "B" and r["error"] is None for r in kept)


@pytest.mark.parametrize(
    ("variables", "sent"),
    [
        ({"OPENAI_API_KEY": "sk-openai"}, "Bearer sk-openai"),
        ({"OPENAI_API_KEY": "sk-openai", "VLMEVAL_API_KEY": "sk-vlmeval"}, "Bearer sk-vlmeval"),
        ({}, None),
    ],
)
def test_the_key_comes_from_the_environment(monkeypatch, variables, sent):
    for name in ("OPENAI_API_KEY", "VLMEVAL_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    with MisbehavingServer() as server:
        spec = EndpointSpec(base_url=server.base_url)
        EndpointClient(spec, "m", policy=FAST).answer(ask("q"), None, 1)
    assert server.completions()[0].headers.get("Authorization") == sent


@pytest.mark.slow  # ~6 s: a run, a stop and a rerun
def test_sigterm_stops_an_endpoint_run_and_ends_its_attempt(tmp_path):
    answer = json_body(completion("A"))  # answers, slowly: the rerun has answers to score
    with MisbehavingServer([Step(body=answer, stall_s=0.3)] * 400) as server:
        argv = [
            *(VLMEVAL, "eval", "--api-base", server.base_url, "-m", "fake-vlm"),
            *("-d", "ShapesMCQ", "--output", str(tmp_path / "out")),
            *("--data-dir", str(tmp_path / "data"), "--run-name", "r", "--api-concurrency", "2"),
        ]
        env = {**os.environ, "HF_HUB_OFFLINE": "1"}
        process = subprocess.Popen(argv, env=env, stderr=subprocess.PIPE, text=True)
        run_dir = tmp_path / "out" / "fake-vlm" / "r"
        checkpoint = run_dir / "ShapesMCQ" / ".shards" / "rank-0.jsonl"
        deadline = time.monotonic() + 120
        while not checkpoint.exists():
            assert time.monotonic() < deadline and process.poll() is None, process.stderr.read()
            time.sleep(0.05)
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 143, stderr
        assert "stopped by SIGTERM" in stderr
        (attempts_file,) = run_dir.glob("attempts.node-0.jsonl")
        events = [json.loads(line) for line in attempts_file.read_text().splitlines()]
        assert events[-1]["event"] == "end" and events[-1]["exit"] == 143

        rerun = subprocess.run(
            [*argv, "--limit", "2"], env=env, capture_output=True, text=True, timeout=120
        )
    assert rerun.returncode == 0, rerun.stderr
    assert "taking over the run lock" not in rerun.stderr


@pytest.mark.parametrize(
    ("status", "server_says", "fix"),
    [
        (404, "The model `fake-vlm` does not exist.", "check --model, the name the server serves"),
        (401, "Incorrect API key provided", "set VLMEVAL_API_KEY (or OPENAI_API_KEY)"),
        (403, "forbidden", "set VLMEVAL_API_KEY (or OPENAI_API_KEY)"),
    ],
)
def test_a_refusal_every_item_would_meet_stops_the_run_with_exit_2_and_the_fix(
    tmp_path, status, server_says, fix
):
    """A model name the server does not serve, a refused key, a wrong base URL: the run stops
    at the first answer instead of failing each of its items the same way."""
    script = [Step(status, json_body({"error": {"message": server_says}}))] * 50
    with MisbehavingServer(script) as server:
        done = vlmeval_eval(tmp_path, server.base_url, "--limit", "40", "--api-concurrency", "1")
        sent = len(server.completions())
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("vlmeval: error:")]
    assert len(errors) == 1, done.stderr
    assert f"HTTP {status}: {server_says}" in errors[0] and fix in errors[0]
    assert "'fake-vlm'" in errors[0]
    assert sent < 5, f"{sent} requests were sent after the first refusal"
    assert "Traceback" not in done.stderr


def test_a_key_the_server_echoes_is_masked_in_the_items_error():
    refused = Step(400, json_body({"error": {"message": "bad request for key sk-test-key"}}))
    with (
        MisbehavingServer([refused]) as server,
        pytest.raises(ItemFailed) as failed,
    ):
        client(server).answer(ask("q"), None, 4)
    assert "sk-test-key" not in str(failed.value) and "key ***" in str(failed.value)


def bounded_client(server: MisbehavingServer, **bounds) -> EndpointClient:
    spec = EndpointSpec(base_url=server.base_url, **bounds)
    return EndpointClient(spec, "fake-vlm", policy=FAST, key="sk-test-key")


def test_an_endless_body_fails_the_item_at_the_size_bound_and_no_later():
    """200, no Content-Length, bytes without end: reading stops at --api-max-response-bytes
    (before, the process grew to gigabytes)."""
    with MisbehavingServer([Step(endless=True)]) as server:
        with pytest.raises(ItemFailed, match=r"over 1048576 bytes \(--api-max-response-bytes\)"):
            bounded_client(server, max_response_bytes=2**20).answer(ask("q"), None, 4)
        assert len(server.completions()) == 1, "an oversized answer is not asked for again"


def test_a_declared_length_over_the_bound_fails_the_item_before_reading_the_body():
    big = json_body(completion_of("A" * 5000))
    with (
        MisbehavingServer([Step(body=big, trickle_s=1.0)]) as server,
        pytest.raises(ItemFailed, match=r"over 4096 bytes"),
    ):
        bounded_client(server, max_response_bytes=4096, timeout_s=60).answer(ask("q"), None, 4)


def completion_of(text: object) -> dict:
    return {"choices": [{"index": 0, "message": {"role": "assistant", "content": text}}]}


def test_a_trickled_answer_is_cut_at_the_deadline_of_the_whole_request():
    """One byte every 0.2 s keeps each read under httpx's per-read timeout; the deadline of
    the whole attempt still cuts it (before, each attempt took as long as the server liked)."""
    slow = Step(body=json_body(completion_of("B")), trickle_s=0.2)  # about 20 s in all
    with MisbehavingServer([slow, slow, slow]) as server:
        with pytest.raises(ItemFailed, match=r"no answer within 0.5 s \(--api-timeout\)"):
            bounded_client(server, timeout_s=0.5).answer(ask("q"), None, 4)
        first, *_, last = server.completions()
    assert len(server.completions()) == FAST.attempts
    assert last.at - first.at < 4 * 0.5, "each attempt ended at its deadline"


def test_content_null_fails_the_item_with_what_the_server_said():
    null = {"choices": [{"message": {"content": None}, "finish_reason": "length"}]}
    with (
        MisbehavingServer([Step(body=json_body(null))]) as server,
        pytest.raises(ItemFailed, match=r"no text \(content null, finish_reason 'length'\)"),
    ):
        client(server).answer(ask("q"), None, 4)


def test_a_refusal_in_place_of_content_is_named_in_the_items_error():
    refused = {"choices": [{"message": {"content": None, "refusal": "I can't help with that"}}]}
    with (
        MisbehavingServer([Step(body=json_body(refused))]) as server,
        pytest.raises(ItemFailed, match=r"content null.*: I can't help with that"),
    ):
        client(server).answer(ask("q"), None, 4)


def test_a_hostile_nest_of_brackets_fails_the_item_instead_of_the_run():
    with (
        MisbehavingServer([Step(body=b"[" * 100_000)]) as server,
        pytest.raises(ItemFailed, match="not JSON"),
    ):
        client(server).answer(ask("q"), None, 4)


def client_threads() -> int:
    """Threads of this process but the test server's (one per connection)."""
    return sum("process_request_thread" not in t.name for t in threading.enumerate())


def test_requests_in_flight_run_on_a_bounded_number_of_threads():
    """64 stalled requests at once: the threads do not grow with the concurrency (before,
    one thread per request: --api-concurrency 100000 started 18,000 threads)."""
    stalled = Step(stall_s=1.0, body=json_body(completion_of("A")))
    with MisbehavingServer([stalled] * 64) as server:
        answering = bounded_client(server, concurrency=64)
        before = client_threads()
        futures = [
            answering.submit(answering.answer_async(lambda: ask("q"), None, 4)) for _ in range(64)
        ]
        deadline = time.monotonic() + 30
        while len(server.completions()) < 64 and time.monotonic() < deadline:
            time.sleep(0.05)
        in_flight_threads = client_threads()
        answers = [f.result(timeout=60) for f in futures]
    assert len(server.completions()) == 64, "all 64 were in flight at once"
    assert [answer.text for answer in answers] == ["A"] * 64
    assert in_flight_threads - before <= 8


@pytest.mark.parametrize(
    ("status", "server_says"),
    [
        (400, "Server is pinned to './my-vlm'; requested 'fake-vlm'."),
        (400, "The model `fake-vlm` does not exist."),
        (422, "Unknown model: fake-vlm"),
    ],
)
def test_a_model_the_server_does_not_serve_stops_the_run_whatever_the_status(
    tmp_path, status, server_says
):
    """transformers serve answers a wrong served name with 400: before, every item failed
    and the run scored 0% with exit 0."""
    script = [Step(status, json_body({"detail": server_says}))] * 50
    with MisbehavingServer(script) as server:
        done = vlmeval_eval(tmp_path, server.base_url, "--limit", "20", "--api-concurrency", "1")
        sent = len(server.completions())
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("vlmeval: error:")]
    assert len(errors) == 1, done.stderr
    assert server_says in errors[0] and "check --model, the name the server serves" in errors[0]
    assert sent < 5 and "Traceback" not in done.stderr


def test_a_400_that_is_about_the_item_still_fails_only_the_item():
    refused = Step(400, json_body({"error": {"message": "image too large for this model"}}))
    with MisbehavingServer([refused]) as server, pytest.raises(ItemFailed):
        client(server).answer(ask("q"), None, 4)


def test_a_redirect_stops_the_run_naming_where_it_points(tmp_path):
    """Redirects are not followed; before, each item failed as "not JSON: ''"."""
    moved = Step(307, b"", {"Location": "https://elsewhere.example/v1/chat/completions"})
    with MisbehavingServer([moved] * 20) as server:
        done = vlmeval_eval(tmp_path, server.base_url, "--limit", "4", "--api-concurrency", "1")
    assert done.returncode == 2, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("vlmeval: error:")]
    assert len(errors) == 1, done.stderr
    assert "HTTP 307: a redirect to https://elsewhere.example/v1/chat/completions" in errors[0]
    assert "give --api-base as the URL it points to" in errors[0]


def test_a_key_in_the_base_urls_query_is_refused_and_never_shown_or_written(tmp_path):
    url = "http://127.0.0.1:9/v1?api-key=sk-in-the-url"
    done = vlmeval_eval(tmp_path, url, "--limit", "4")
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("vlmeval: error: --api-base http://127.0.0.1:9/v1 has a query string")
    assert "sk-in-the-url" not in done.stderr + done.stdout
    assert not (tmp_path / "out").exists(), "nothing is written for a refused launch"


def test_a_secret_in_the_extra_fields_is_refused(tmp_path):
    done = vlmeval_eval(
        tmp_path, "http://127.0.0.1:9/v1", "--api-extra", '{"api_key": "sk-x", "top_k": 1}'
    )
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert "--api-extra sets api_key, which would write a secret to the plan" in line
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(
    ("flag", "value", "expected"),
    [
        (
            "--api-concurrency",
            "100000",
            "--api-concurrency is 100000: it must be 1 or more and at most 512",
        ),
        (
            "--api-timeout",
            "1e9",
            "--api-timeout is 1000000000.0: it must be a positive number of seconds, at most 3600",
        ),
        ("--api-max-response-bytes", "0", "--api-max-response-bytes is 0: it must be 1 to"),
    ],
)
def test_endpoint_bounds_over_their_limits_stop_the_launch(tmp_path, flag, value, expected):
    done = vlmeval_eval(tmp_path, "http://127.0.0.1:9/v1", flag, value)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert expected in line
    assert not (tmp_path / "out").exists()
