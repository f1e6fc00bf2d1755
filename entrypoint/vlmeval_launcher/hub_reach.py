"""Before the ranks start: can a hub model be had at all? One probe, a verdict in seconds.

Without it, a hub that cannot be reached costs minutes of the hub client's retries in
every rank before the run fails. :func:`check_hub` asks the hub's API once (``HF_ENDPOINT``
honoured, proxies from the environment) with a timeout of :data:`PROBE_TIMEOUT_S`:

* any HTTP answer means reachable (a 401 or 404 is the ranks' to explain);
* unreachable, with the model's commit in the local cache: the ranks load it from there
  (``HF_HUB_OFFLINE=1`` is handed to them) after a note;
* unreachable and not cached: a RuntimeFailure (exit 3) naming the three fixes.

Nothing is probed for bundled or local models, nor when ``HF_HUB_OFFLINE`` or
``VLMEVAL_OFFLINE`` is set (the ranks then get ``HF_HUB_OFFLINE=1``).
Torch-free; stdlib HTTP only.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass

from vlmeval_core.env_flags import is_offline, is_set
from vlmeval_core.errors import RuntimeFailure
from vlmeval_core.models.record import ModelSpec

PROBE_TIMEOUT_S = 10.0
OFFLINE_VARIABLE = "HF_HUB_OFFLINE"


@dataclass(frozen=True)
class HubVerdict:
    """What the launcher does about the hub: variables for the ranks and a note, if any."""

    environment: Mapping[str, str]
    note: str | None = None


def check_hub(model: ModelSpec, environ: Mapping[str, str] | None = None) -> HubVerdict:
    """Probe the hub for ``model``; see the module docstring."""
    env = os.environ if environ is None else environ
    if model.source != "hub":
        return HubVerdict({})
    if is_offline(env):  # VLMEVAL_OFFLINE alone must reach the ranks' hub client too
        return HubVerdict({} if is_set(OFFLINE_VARIABLE, env) else {OFFLINE_VARIABLE: "1"})
    from huggingface_hub import constants

    endpoint = constants.ENDPOINT.rstrip("/")
    revision = model.revision or "main"
    problem = unreachable(
        f"{endpoint}/api/models/{model.path}/revision/{urllib.parse.quote(revision, safe='')}"
    )
    if problem is None:
        return HubVerdict({})
    from vlmeval_core.identity import cached_commit

    commit = cached_commit(model.path, model.revision)
    if commit is not None:
        return HubVerdict(
            {OFFLINE_VARIABLE: "1"},
            f"the hub at {endpoint} cannot be reached ({problem}); loading {model.path} "
            f"from the cache (commit {commit[:12]}) with {OFFLINE_VARIABLE}=1",
        )
    raise RuntimeFailure(
        f"model {model.path!r} is not in the Hugging Face cache {constants.HF_HUB_CACHE} and "
        f"the hub at {endpoint} cannot be reached ({problem}): run `vlmeval fetch -m "
        f"{model.name}` where there is network, or set {OFFLINE_VARIABLE}=1 with a filled "
        "cache (HF_HOME), or point HF_ENDPOINT at a reachable mirror"
    )


def unreachable(url: str, timeout: float = PROBE_TIMEOUT_S) -> str | None:
    """None when ``url``'s server answers at all (any HTTP status), else why not."""
    request = urllib.request.Request(url, method="HEAD")
    try:
        with urllib.request.urlopen(request, timeout=timeout):
            return None
    except urllib.error.HTTPError:
        return None
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        return " ".join(str(reason).split()) or type(exc).__name__
