"""The one model adapter: any transformers image-text-to-text model with a chat template.

``AutoProcessor`` + ``AutoModelForImageTextToText`` from a hub id or a local
``save_pretrained`` directory (the bundled tiny-vlm takes the same path),
batched greedy generation with left padding, bf16 on GPU and fp32 on CPU, sdpa
attention; only the newly generated tokens are decoded.
"""

from __future__ import annotations

import importlib.util
import inspect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from vlmeval_core.datasets.prompts import chat_message
from vlmeval_core.distributed import world_size_unset
from vlmeval_core.errors import RuntimeFailure, UsageError
from vlmeval_core.plan import ModelSpec

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}


def resolve_dtype(name: str, device: str) -> torch.dtype:
    """``auto`` is bf16 on a GPU and fp32 on the CPU."""
    if name == "auto":
        return torch.bfloat16 if device == "cuda" else torch.float32
    return DTYPES[name]


@dataclass(frozen=True)
class Generation:
    """The answers to one batch and the tokens it took."""

    texts: list[str]
    prompt_tokens: int
    generated_tokens: int


class VisionLanguageModel:
    """A loaded model and its processor, ready to answer batches of (images, prompt)."""

    def __init__(self, spec: ModelSpec, device: str) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.spec = spec
        self.device = torch.device("cuda", 0) if device == "cuda" else torch.device("cpu")
        self.dtype = resolve_dtype(spec.dtype, device)
        common: dict[str, Any] = {
            "revision": spec.revision,
            "trust_remote_code": spec.trust_remote_code,
        }
        try:
            self.processor = AutoProcessor.from_pretrained(spec.path, **common)
        except Exception as exc:
            raise _load_error(spec, "processor", exc) from exc
        if not hasattr(self.processor, "apply_chat_template") or not getattr(
            self.processor, "chat_template", None
        ):
            raise UsageError(
                f"model {spec.path!r}: its processor has no chat template; "
                "save one with processor.save_pretrained (chat_template.jinja)"
            )
        tokenizer = getattr(self.processor, "tokenizer", None)
        if tokenizer is None:
            raise UsageError(
                f"model {spec.path!r}: AutoProcessor gave no tokenizer; "
                "the directory needs a full processor (image processor + tokenizer)"
            )
        tokenizer.padding_side = "left"  # not saved with the tokenizer; generation needs it
        load_kwargs: dict[str, Any] = {"dtype": self.dtype, **common}
        if device == "cuda" and spec.gpus_per_model > 1:
            load_kwargs["device_map"] = "auto"
        model = self._load_model(AutoModelForImageTextToText, load_kwargs)
        if "device_map" not in load_kwargs:
            model = model.to(self.device)
        self.model = model.eval()
        self.commit = getattr(model.config, "_commit_hash", None)
        takes_kwargs_dict = (
            "processor_kwargs" in inspect.signature(self.processor.apply_chat_template).parameters
        )  # transformers >= 5
        self._padding = (
            {"processor_kwargs": {"padding": True}} if takes_kwargs_dict else {"padding": True}
        )
        self.pad_token_id = tokenizer.pad_token_id
        if self.pad_token_id is None:
            self.pad_token_id = tokenizer.eos_token_id

    def _load_model(self, auto_class: Any, load_kwargs: dict[str, Any]) -> Any:
        """Load with the fastest attention the model supports: flash-attention 2, then sdpa."""
        candidates = attention_candidates(self.device.type, self.dtype)
        for attention in candidates:
            try:
                with world_size_unset():
                    return auto_class.from_pretrained(
                        self.spec.path, attn_implementation=attention, **load_kwargs
                    )
            except ValueError as exc:
                if attention != candidates[-1] and "attn" in str(exc).lower():
                    continue  # this architecture does not support it: try the next
                raise _load_error(self.spec, "model", exc) from exc
            except (torch.OutOfMemoryError, RuntimeError) as exc:
                raise RuntimeFailure(
                    f"model {self.spec.path!r} could not be loaded: {exc}"
                ) from exc
            except Exception as exc:
                raise _load_error(self.spec, "model", exc) from exc
        raise AssertionError("unreachable: the last candidate returns or raises")

    def encode(self, batch: Sequence[tuple[Sequence[Image.Image], str]]) -> Any:
        """The processor's tensors for a batch, left-padded, on the CPU (pinned for a GPU).

        Safe to call from a background thread while the model generates.
        """
        conversations = [chat_message(list(images), text) for images, text in batch]
        inputs = self.processor.apply_chat_template(
            conversations,
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
            return_tensors="pt",
            **self._padding,
        ).to(self.dtype)  # floating tensors only
        if self.device.type == "cuda":
            for key, value in inputs.items():
                if isinstance(value, torch.Tensor):
                    inputs[key] = value.pin_memory()
        return inputs

    @torch.inference_mode()
    def generate_encoded(self, inputs: Any, max_new_tokens: int, **extra: Any) -> Generation:
        """Greedy answers for encoded ``inputs``; ``extra`` goes to ``generate`` as is."""
        inputs = inputs.to(self.model.device, non_blocking=True)
        output = self.model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            do_sample=False,
            temperature=None,
            top_p=None,
            top_k=None,
            pad_token_id=self.pad_token_id,
            **extra,
        )
        new_tokens = output[:, inputs["input_ids"].shape[1] :]
        texts = self.processor.batch_decode(new_tokens, skip_special_tokens=True)
        return Generation(
            texts=[t.strip() for t in texts],
            prompt_tokens=int(inputs["attention_mask"].sum()),
            generated_tokens=int((new_tokens != self.pad_token_id).sum()),
        )

    def generate(
        self, batch: Sequence[tuple[Sequence[Image.Image], str]], max_new_tokens: int
    ) -> list[str]:
        """Greedy answers for ``batch``, one string per item, without the prompt."""
        return self.generate_encoded(self.encode(batch), max_new_tokens).texts


def attention_candidates(device: str, dtype: torch.dtype) -> list[str]:
    """flash-attention 2 first when it is installed and can run here, then sdpa."""
    flash = (
        device == "cuda"
        and dtype in (torch.bfloat16, torch.float16)
        and importlib.util.find_spec("flash_attn") is not None
    )
    return ["flash_attention_2", "sdpa"] if flash else ["sdpa"]


def _load_error(spec: ModelSpec, part: str, exc: Exception) -> Exception:
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if spec.source in ("local", "bundled"):
        return UsageError(
            f"model directory {spec.path!r} has no loadable {part} ({first_line}); "
            "it needs the files of model.save_pretrained and "
            "processor.save_pretrained"
        )
    if isinstance(exc, GatedRepoError):
        return UsageError(
            f"model {spec.path!r} is gated: accept its licence on the hub and "
            "pass a token in HF_TOKEN"
        )
    if isinstance(exc, RepositoryNotFoundError | RevisionNotFoundError):
        return UsageError(
            f"model {spec.path!r}{'@' + spec.revision if spec.revision else ''} "
            "was not found on the hub: check the id (and HF_TOKEN for a private one)"
        )
    from huggingface_hub import constants

    if isinstance(exc, LocalEntryNotFoundError) or constants.HF_HUB_OFFLINE:
        return RuntimeFailure(
            f"model {spec.path!r} is not in the cache {str(constants.HF_HOME)!r} and the "
            "hub cannot be reached (offline?): run `vlmeval fetch` first or "
            "mount a filled cache"
        )
    return RuntimeFailure(f"model {spec.path!r}: loading its {part} failed: {first_line}")
