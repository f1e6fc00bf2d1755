"""One item, one request: an OpenAI-compatible chat completion, with its timeout and retries.

The message is the in-process backend's (the prompt family's messages, as
:func:`vlmeval_core.prompt_families.conversation` turns them into a chat: the same
text, the same images in the same order, the same system prompt) written in
OpenAI's format, each image as a base64 PNG data URL. Decoding is greedy (temperature 0),
``max_tokens`` is the plan's ``max_new_tokens``, and the plan's extra fields are
added to every request.

Faults (:class:`RetryPolicy`):

* a connection error, a timeout, 429 and 5xx are retried with exponential backoff and
  jitter (429 waits at least its ``Retry-After``), up to ``attempts`` tries;
* a server that cannot be connected to after those tries stops the run
  (:class:`~vlmeval_core.errors.RuntimeFailure`, exit 3, naming the URL): with the
  default policy within 50 s;
* 401, 403 and 404 to a chat completion stop the run at once
  (:class:`~vlmeval_core.errors.UsageError`, exit 2, the server's words and the
  fix): a key the server refuses, a model name it does not serve, a base URL
  without its API: what every other item would meet too;
* any other 4xx, a malformed answer, and a retried fault that never cleared fail
  that item only (:class:`ItemFailed`, its message the server's).
"""

from __future__ import annotations

import base64
import email.utils
import io
import json
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from PIL import Image

from vlmeval_core.endpoint.options import api_key
from vlmeval_core.errors import RuntimeFailure, UsageError
from vlmeval_core.prompt_families import Message, conversation
from vlmeval_core.run_plan import EndpointSpec

CONNECT_TIMEOUT_S = 5.0
"""How long one attempt may take to connect; the request's own timeout is the plan's."""


RUN_LEVEL_REFUSALS = {
    401: "the server refused the key: set VLMEVAL_API_KEY (or OPENAI_API_KEY) to one it accepts",
    403: "the server refused the key: set VLMEVAL_API_KEY (or OPENAI_API_KEY) to one it accepts",
    404: "check --model, the name the server serves (GET {base}/models lists them), and "
    "--api-base, which ends where /chat/completions begins (e.g. http://host:8000/v1)",
}
"""Answers to a chat completion that every item would get: they stop the run, with the fix."""


class ItemFailed(Exception):
    """The server could not answer this item; the message says why (its own words if any)."""


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded retries with exponential backoff and jitter.

    Waits before retries 1, 2, … are ``base_s * 2**k`` capped at ``cap_s``, each
    drawn from its upper half; a 429's ``Retry-After`` (capped at ``retry_after_cap_s``)
    is waited when it is longer. The defaults give up on a server that refuses
    connections after about 16 s, and on one that drops them silently after
    ``attempts * CONNECT_TIMEOUT_S`` + 16 s, under 50 s.
    """

    attempts: int = 6
    base_s: float = 0.5
    cap_s: float = 8.0
    retry_after_cap_s: float = 60.0

    def backoff(self, retry: int) -> float:
        ceiling = min(self.cap_s, self.base_s * 2**retry)
        return random.uniform(ceiling / 2, ceiling)

    def wait(self, retry: int, response: httpx.Response | None) -> float:
        asked = retry_after(response) if response is not None else None
        backoff = self.backoff(retry)
        return backoff if asked is None else max(backoff, min(asked, self.retry_after_cap_s))


def retry_after(response: httpx.Response) -> float | None:
    """Seconds a ``Retry-After`` header asks for (a number or an HTTP date), or None."""
    raw = response.headers.get("retry-after")
    if raw is None:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def data_url(image: Image.Image) -> str:
    """The image as a base64 PNG data URL (lossless: the server sees the very pixels)."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def openai_messages(messages: Sequence[Message], system_prompt: str | None) -> list[dict[str, Any]]:
    """The chat the in-process backend gives its chat template (:func:`conversation`), in
    OpenAI's content format: each image a data URL."""
    turns = conversation(messages, system_prompt)
    for turn in turns:
        turn["content"] = [
            {"type": "image_url", "image_url": {"url": data_url(part["image"])}}
            if part["type"] == "image"
            else {"type": "text", "text": part["text"]}
            for part in turn["content"]
        ]
    return turns


def server_message(response: httpx.Response) -> str:
    """What the server said went wrong: OpenAI's ``error.message``, else its body's first line."""
    try:
        body = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error", body.get("detail", body.get("message")))
        if isinstance(error, dict):
            error = error.get("message", error)
        if error is not None:
            return _first_line(error if isinstance(error, str) else json.dumps(error))
    return _first_line(response.text) or response.reason_phrase


def _first_line(text: str, limit: int = 300) -> str:
    line = (text.strip().splitlines() or [""])[0]
    return line if len(line) <= limit else line[:limit] + "…"


class EndpointClient:
    """Answers items through ``<base_url>/chat/completions``; safe to share between threads.

    Built once per run: it asks ``<base_url>/models`` first, which both proves the
    server reachable (or stops the run) and gives the manifest the server's answer.
    """

    def __init__(
        self,
        endpoint: EndpointSpec,
        model: str,
        policy: RetryPolicy | None = None,
        key: str | None = None,
    ) -> None:
        self.endpoint = endpoint
        self.model = model
        self.policy = policy or RetryPolicy()
        key = key if key is not None else api_key()
        self._key = key
        self._http = httpx.Client(
            base_url=endpoint.base_url + "/",
            timeout=httpx.Timeout(endpoint.timeout_s, connect=CONNECT_TIMEOUT_S),
            limits=httpx.Limits(max_connections=endpoint.concurrency),
            headers={"Authorization": f"Bearer {key}"} if key else {},
        )
        self.server_models = self._models()

    def answer(
        self, messages: Sequence[Message], system_prompt: str | None, max_new_tokens: int
    ) -> str:
        """The model's greedy answer to one item's ``messages`` (VLMEvalKit's format, images
        as PIL images), stripped; ItemFailed when it has none."""
        body = {
            "model": self.model,
            "messages": openai_messages(messages, system_prompt),
            "temperature": 0,
            "max_tokens": max_new_tokens,
            **self.endpoint.extra,
        }
        response = self._send("POST", "chat/completions", body, stop_on=RUN_LEVEL_REFUSALS)
        try:
            answer = response.json()
        except ValueError:
            raise ItemFailed(
                f"the server's answer is not JSON: {_first_line(response.text)!r}"
            ) from None
        try:
            content = answer["choices"][0]["message"]["content"]
        except (KeyError, IndexError, TypeError):
            raise ItemFailed(
                f"the server's answer has no choices[0].message.content: "
                f"{_first_line(response.text)!r}"
            ) from None
        if content is not None and not isinstance(content, str):
            raise ItemFailed(f"the server's answer content is not text: {content!r}")
        return (content or "").strip()

    def close(self) -> None:
        self._http.close()

    def _without_key(self, text: str) -> str:
        """``text`` (the server's words, kept in results and logs) with the key masked,
        should a server echo it."""
        return text.replace(self._key, "***") if self._key else text

    def _models(self) -> Any:
        """The server's ``/models`` answer (None when it gives none); RuntimeFailure when it
        cannot be reached."""
        try:
            response = self._send("GET", "models", retry_answers=False)
            return response.json()
        except (ItemFailed, ValueError):
            return None

    def _send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        retry_answers: bool = True,
        stop_on: dict[int, str] | None = None,
    ) -> httpx.Response:
        """The server's answer below 400; connection errors and timeouts are retried, and
        429 and 5xx too when ``retry_answers``; a status in ``stop_on`` stops the run with
        its fix; see the module's docstring for the rest."""
        url = f"{self.endpoint.base_url}/{path}"
        last, unreachable = "", False
        for retry in range(self.policy.attempts):
            response = None
            try:
                response = self._http.request(method, path, json=body)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last, unreachable = f"cannot connect ({_first_line(str(exc)) or 'refused'})", True
            except httpx.TimeoutException:
                last = f"no answer within {self.endpoint.timeout_s:g} s (--api-timeout)"
                unreachable = False
            except httpx.TransportError as exc:
                last = f"connection lost ({type(exc).__name__}: {_first_line(str(exc))})"
                unreachable = False
            else:
                code = response.status_code
                if code < 400:
                    return response
                message = self._without_key(f"HTTP {code}: {server_message(response)}")
                if stop_on and code in stop_on:
                    fix = stop_on[code].format(base=self.endpoint.base_url)
                    raise UsageError(f"{url} answered {message} (model {self.model!r}): {fix}")
                if not retry_answers or (code != 429 and code < 500):
                    raise ItemFailed(message)
                last, unreachable = message, False
            if retry + 1 < self.policy.attempts:
                time.sleep(self.policy.wait(retry, response))
        if unreachable:
            raise RuntimeFailure(
                f"the API server at {url} cannot be reached: {last} after "
                f"{self.policy.attempts} attempts; check --api-base and that the server is up "
                "(finished items are checkpointed; rerun with the same --run-name to resume)"
            )
        raise ItemFailed(f"{url}: {last} ({self.policy.attempts} attempts)")
