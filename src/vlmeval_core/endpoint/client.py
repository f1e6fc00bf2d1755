"""One item, one request: an OpenAI-compatible chat completion, with its bounds and retries.

The message is the in-process backend's (the prompt family's messages, as
:func:`vlmeval_core.prompt_families.conversation` turns them into a chat: the same
text, the same images in the same order, the same system prompt) written in
OpenAI's format, each image as a base64 PNG data URL. Decoding is greedy (temperature 0),
``max_tokens`` is the plan's ``max_new_tokens``, and the plan's extra fields are
added to every request. An answer is its text with the server's ``usage.completion_tokens``
and ``finish_reason`` (:class:`Completion`).

Bounds. Every request runs on one event loop in one thread of the client's
(httpx's async client), whatever the concurrency: an attempt is cancelled when
its deadline, ``--api-timeout`` for the whole attempt (connect, send, headers,
body), has passed, which httpx's own timeouts cannot do (they apply to each
read, so a server trickling one byte a second would hold an attempt forever).
A body larger than ``--api-max-response-bytes`` fails its item as soon as it is
seen (``Content-Length`` or the bytes read so far); nothing more is read.
Building a request (decoding and encoding its images) runs in the loop's small
default thread pool.

Faults (:class:`RetryPolicy`):

* a connection error, a passed deadline, 429 and 5xx are retried with exponential
  backoff and jitter (429 waits at least its ``Retry-After``), up to ``attempts`` tries;
* a server that cannot be connected to after those tries stops the run
  (:class:`~vlmeval_core.errors.RuntimeFailure`, exit 3, naming the URL): with the
  default policy within 50 s;
* answers to a chat completion that every item would get stop the run at once
  (:class:`~vlmeval_core.errors.UsageError`, exit 2, the server's words and the
  fix): 401 and 403 (a key the server refuses), 404 (a model name it does not
  serve, a base URL without its API), any other 4xx whose words say the model is
  not served (``transformers serve`` answers a wrong name with 400), and a
  redirect (never followed: the fix is the URL it points to);
* any other 4xx, a malformed or oversized answer, an answer without text
  (``content: null``), and a retried fault that never cleared fail that item only
  (:class:`ItemFailed`, its message the server's).
"""

from __future__ import annotations

import asyncio
import base64
import email.utils
import io
import json
import random
import re
import threading
import time
from collections.abc import Callable, Coroutine, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from PIL import Image

from vlmeval_core.endpoint.options import api_key
from vlmeval_core.errors import RuntimeFailure, UsageError
from vlmeval_core.prompt_families import Message, conversation
from vlmeval_core.run_plan import EndpointSpec

CONNECT_TIMEOUT_S = 5.0
"""How long one attempt may take to connect; the whole attempt's deadline is the plan's."""

WRONG_KEY = "the server refused the key: set VLMEVAL_API_KEY (or OPENAI_API_KEY) to one it accepts"
WRONG_MODEL = (
    "check --model, the name the server serves (GET {base}/models lists them), and "
    "--api-base, which ends where /chat/completions begins (e.g. http://host:8000/v1)"
)
RUN_LEVEL_REFUSALS = {401: WRONG_KEY, 403: WRONG_KEY, 404: WRONG_MODEL}
"""Answers to a chat completion that every item would get: they stop the run, with the fix."""

MODEL_NOT_SERVED = re.compile(
    r"model\b.{0,120}?\b(does not exist|doesn't exist|not found|not served|is not available"
    r"|not loaded|unknown|no such)|\bunknown model\b|model_not_found|\bpinned to\b",
    re.IGNORECASE,
)
"""How servers say, whatever their status code, that they do not serve the model asked for:
vLLM and OpenAI (``The model `x` does not exist``, ``model_not_found``), ``transformers
serve`` (400, ``Server is pinned to './m'; requested 'x'``), and the like."""

_T = TypeVar("_T")


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


@dataclass(frozen=True)
class Reply:
    """A whole answer of the server: its head, and its body as read within the bounds."""

    response: httpx.Response
    body: bytes

    @property
    def status(self) -> int:
        return self.response.status_code

    def json(self) -> Any:
        """The body as JSON; ValueError when it is not (RecursionError too: a hostile nest)."""
        try:
            return json.loads(self.body)
        except RecursionError:
            raise ValueError("nested too deeply") from None

    def first_line(self) -> str:
        return _first_line(self.body.decode("utf-8", "replace"))

    def server_message(self) -> str:
        """What the server said went wrong: OpenAI's ``error.message``, else the body's
        first line."""
        try:
            body = self.json()
        except ValueError:
            body = None
        if isinstance(body, dict):
            error = body.get("error", body.get("detail", body.get("message")))
            if isinstance(error, dict):
                error = error.get("message", error)
            if error is not None:
                return _first_line(error if isinstance(error, str) else json.dumps(error))
        return self.first_line() or self.response.reason_phrase


def _first_line(text: str, limit: int = 300) -> str:
    line = (text.strip().splitlines() or [""])[0]
    return line if len(line) <= limit else line[:limit] + "…"


SERVER_FINISH_REASONS = {"stop": "eos", "length": "length"}
"""A server's ``finish_reason`` as a checkpoint records it
(:data:`vlmeval_core.checkpoints.FINISH_REASONS`); any other (none given, ``content_filter``)
is recorded as null."""


@dataclass(frozen=True)
class Completion:
    """A chat completion's text, stripped, and what the server said of its generation."""

    text: str
    completion_tokens: int | None
    """``usage.completion_tokens``; None when the server gives none."""
    finish_reason: str | None
    """``choices[0].finish_reason`` mapped by :data:`SERVER_FINISH_REASONS`; None for another."""


def completion_of(reply: Reply) -> Completion:
    """The text of a chat completion, its tokens and finish reason; ItemFailed when it has no
    text."""
    try:
        answer = reply.json()
    except ValueError:
        raise ItemFailed(f"the server's answer is not JSON: {reply.first_line()!r}") from None
    try:
        choice = answer["choices"][0]
        content = choice["message"]["content"]
    except (KeyError, IndexError, TypeError):
        raise ItemFailed(
            f"the server's answer has no choices[0].message.content: {reply.first_line()!r}"
        ) from None
    if content is None:
        message = choice["message"]
        said = message.get("refusal") if isinstance(message, dict) else None
        raise ItemFailed(
            "the server's answer has no text (content null, finish_reason "
            f"{choice.get('finish_reason')!r})" + (f": {_first_line(str(said))}" if said else "")
        )
    if not isinstance(content, str):
        raise ItemFailed(f"the server's answer content is not text: {_first_line(repr(content))}")
    usage = answer.get("usage")
    tokens = usage.get("completion_tokens") if isinstance(usage, dict) else None
    reason = choice.get("finish_reason")
    return Completion(
        content.strip(),
        tokens if type(tokens) is int and tokens >= 0 else None,
        SERVER_FINISH_REASONS.get(reason) if isinstance(reason, str) else None,
    )


class _Loop:
    """One event loop in a daemon thread: every request of a client runs there."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        threading.Thread(target=self.loop.run_forever, name="requests", daemon=True).start()

    def submit(self, coroutine: Coroutine[Any, Any, _T]) -> Future[_T]:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop)

    def run(self, coroutine: Coroutine[Any, Any, _T]) -> _T:
        return self.submit(coroutine).result()


class EndpointClient:
    """Answers items through ``<base_url>/chat/completions``; safe to share between threads.

    Built once per run: it asks ``<base_url>/models`` first, which both proves the
    server reachable (or stops the run) and gives the manifest the server's answer.
    :meth:`answer` waits for one item; :meth:`submit` starts one and returns its
    future, for a caller that keeps several in flight.
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
        self._loop = _Loop()
        self._http = self._loop.run(self._open(key))
        self.server_models = self._loop.run(self._models())

    def answer(
        self, messages: Sequence[Message], system_prompt: str | None, max_new_tokens: int
    ) -> str:
        """The model's greedy answer to one item's ``messages`` (VLMEvalKit's format, images
        as PIL images), stripped; ItemFailed when it has none."""
        return self._loop.run(
            self.answer_async(lambda: messages, system_prompt, max_new_tokens)
        ).text

    def submit(self, coroutine: Coroutine[Any, Any, _T]) -> Future[_T]:
        """Run ``coroutine`` (e.g. one of :meth:`answer_async`) on the client's loop."""
        return self._loop.submit(coroutine)

    async def answer_async(
        self,
        messages: Callable[[], Sequence[Message]],
        system_prompt: str | None,
        max_new_tokens: int,
    ) -> Completion:
        """:meth:`answer`'s completion, on the client's loop; ``messages()`` builds the item's
        messages (reading its images) in a worker thread of the loop, not on the loop itself."""

        def request_body() -> dict[str, Any]:
            return {
                "model": self.model,
                "messages": openai_messages(messages(), system_prompt),
                "temperature": 0,
                "max_tokens": max_new_tokens,
                **self.endpoint.extra,
            }

        body = await asyncio.to_thread(request_body)
        reply = await self._send("POST", "chat/completions", body, run_level=True)
        return completion_of(reply)

    async def text_async(self, text: str, **fields: Any) -> Completion:
        """One text-only user turn (a judge's prompt) with ``fields`` (``temperature``,
        ``max_tokens`` …) and the extra fields: sent, bounded and refused as
        :meth:`answer_async`'s requests are."""
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": [{"type": "text", "text": text}]}],
            **fields,
            **self.endpoint.extra,
        }
        return completion_of(await self._send("POST", "chat/completions", body, run_level=True))

    def close(self) -> None:
        self._loop.run(self._http.aclose())

    def _without_key(self, text: str) -> str:
        """``text`` (the server's words, kept in results and logs) with the key masked,
        should a server echo it."""
        return text.replace(self._key, "***") if self._key else text

    async def _open(self, key: str | None) -> httpx.AsyncClient:
        return httpx.AsyncClient(
            base_url=self.endpoint.base_url + "/",
            timeout=httpx.Timeout(self.endpoint.timeout_s, connect=CONNECT_TIMEOUT_S),
            limits=httpx.Limits(max_connections=self.endpoint.concurrency),
            headers={
                "accept-encoding": "identity",  # the size bound counts the bytes that come
                **({"Authorization": f"Bearer {key}"} if key else {}),
            },
        )

    async def _models(self) -> Any:
        """The server's ``/models`` answer (None when it gives none); RuntimeFailure when it
        cannot be reached."""
        try:
            return (await self._send("GET", "models", retry_answers=False)).json()
        except (ItemFailed, ValueError):
            return None

    async def _attempt(self, method: str, path: str, body: Any) -> Reply:
        """One request, whole, within the deadline and the size bound (or TimeoutError)."""
        limit = self.endpoint.max_response_bytes
        async with asyncio.timeout(self.endpoint.timeout_s):
            request = self._http.build_request(method, path, json=body)
            response = await self._http.send(request, stream=True)
            try:
                declared = response.headers.get("content-length", "")
                read, chunks = int(declared) if declared.isdigit() else 0, []
                if read <= limit:
                    read = 0
                    async for chunk in response.aiter_bytes():
                        read += len(chunk)
                        if read > limit:
                            break
                        chunks.append(chunk)
                if read > limit:
                    raise ItemFailed(
                        f"HTTP {response.status_code}: the server's answer is over "
                        f"{limit} bytes (--api-max-response-bytes); nothing more was read"
                    )
            finally:
                await response.aclose()
        return Reply(response, b"".join(chunks))

    async def _send(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        retry_answers: bool = True,
        run_level: bool = False,
    ) -> Reply:
        """The server's answer below 300; connection errors and passed deadlines are
        retried, and 429 and 5xx too when ``retry_answers``; with ``run_level``, an answer
        every item would get stops the run with its fix; see the module's docstring."""
        url = f"{self.endpoint.base_url}/{path}"
        last, unreachable = "", False
        for retry in range(self.policy.attempts):
            response = None
            try:
                reply = await self._attempt(method, path, body)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                last, unreachable = f"cannot connect ({_first_line(str(exc)) or 'refused'})", True
            except (TimeoutError, httpx.TimeoutException):
                last = f"no answer within {self.endpoint.timeout_s:g} s (--api-timeout)"
                unreachable = False
            except httpx.TransportError as exc:
                last = f"connection lost ({type(exc).__name__}: {_first_line(str(exc))})"
                unreachable = False
            else:
                response, code = reply.response, reply.status
                if code < 300:
                    return reply
                self._refuse_run(reply, url, run_level)
                if code < 400:
                    raise ItemFailed(self._without_key(_redirect(reply)))
                message = self._without_key(f"HTTP {code}: {reply.server_message()}")
                if not retry_answers or (code != 429 and code < 500):
                    raise ItemFailed(message)
                last, unreachable = message, False
            if retry + 1 < self.policy.attempts:
                await asyncio.sleep(self.policy.wait(retry, response))
        if unreachable:
            raise RuntimeFailure(
                f"the API server at {url} cannot be reached: {last} after "
                f"{self.policy.attempts} attempts; check --api-base and that the server is up "
                "(finished items are checkpointed; rerun with the same --run-name to resume)"
            )
        raise ItemFailed(f"{url}: {last} ({self.policy.attempts} attempts)")

    def _refuse_run(self, reply: Reply, url: str, run_level: bool) -> None:
        """Stop the run (UsageError with the fix) on an answer every item would get."""
        code = reply.status
        if not run_level or code == 429 or code >= 500:
            return
        if code < 400:
            said, fix = (
                _redirect(reply),
                (
                    "redirects are not followed: give --api-base as the URL it points to, "
                    "without /chat/completions"
                ),
            )
        else:
            said = f"HTTP {code}: {reply.server_message()}"
            fix = RUN_LEVEL_REFUSALS.get(code) or (
                WRONG_MODEL if MODEL_NOT_SERVED.search(said) else None
            )
            if fix is None:
                return
        raise UsageError(
            self._without_key(
                f"{url} answered {said} (model {self.model!r}): "
                + fix.format(base=self.endpoint.base_url)
            )
        )


def _redirect(reply: Reply) -> str:
    where = reply.response.headers.get("location")
    return f"HTTP {reply.status}: a redirect" + (f" to {_first_line(where)}" if where else "")
