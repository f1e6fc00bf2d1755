"""``vlmeval fetch``: fill the data and model-cache volumes ahead of a run (air-gapped clusters).

Datasets go through :func:`vlmeval_core.datasets.download.ensure_dataset` (the
same check-and-download rank 0 of a run does); hub models through
``huggingface_hub.snapshot_download`` into the Hugging Face cache
(``HF_HOME``). Torch-free: nothing here imports torch or transformers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from vlmeval_core.datasets.registry import DATASETS, resolve_dataset
from vlmeval_core.errors import RuntimeFailure, UsageError, VlmevalError


@dataclass(frozen=True)
class Outcome:
    """One line of the report: what was fetched (or why nothing was), or the error."""

    name: str
    message: str
    error: VlmevalError | None = None


def plan_datasets(specs: Iterable[str]) -> list[str]:
    """The registered names to fetch; unknown names fail before anything is downloaded."""
    names: list[str] = []
    for spec in specs:
        ref = resolve_dataset(spec)  # UsageError naming the closest names
        if ref.name not in names:
            names.append(ref.name)
    return names


def fetch_dataset(name: str, data_dir: Path, *, progress: bool = True) -> Outcome:
    """Download (or check) one dataset; local and synthetic ones need nothing."""
    from vlmeval_core.datasets.download import ensure_dataset

    entry = DATASETS.get(name)
    if entry is None:
        return Outcome(name, "a local TSV file: nothing to fetch")
    if entry.source != "download":
        return Outcome(name, "generated on demand at run time: nothing to fetch")
    try:
        fetched = ensure_dataset(entry, data_dir, progress=progress)
    except VlmevalError as exc:
        return Outcome(name, "", exc)
    what = "downloaded to" if fetched.downloaded else "already in place:"
    return Outcome(name, f"{what} {fetched.path} (md5 {fetched.md5})")


def fetch_model(
    name: str,
    revision: str | None = None,
    download: Callable[..., str] | None = None,
) -> Outcome:
    """Put a hub model in the Hugging Face cache; bundled and local models need nothing."""
    from vlmeval_core.models.registry import resolve_model

    try:
        resolved = resolve_model(name)
    except UsageError as exc:
        return Outcome(name, "", exc)
    if resolved.source != "hub":
        return Outcome(resolved.name, f"{resolved.source} at {resolved.path}: nothing to fetch")
    if download is None:
        from huggingface_hub import snapshot_download

        download = snapshot_download
    try:
        path = download(repo_id=resolved.path, revision=revision)
    except Exception as exc:  # the hub client raises many types; all mean "not fetched"
        detail = " ".join(str(exc).split()) or type(exc).__name__
        return Outcome(
            resolved.name,
            "",
            RuntimeFailure(
                f"model {resolved.path}"
                + (f"@{revision}" if revision else "")
                + f" could not be fetched from the hub ({type(exc).__name__}: {detail[:300]}); "
                "check the network (HF_ENDPOINT, proxies), HF_TOKEN for gated models, and that "
                "HF_HUB_OFFLINE is not set"
            ),
        )
    return Outcome(resolved.name, f"in the Hugging Face cache at {path}")
