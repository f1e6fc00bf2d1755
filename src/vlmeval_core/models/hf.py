"""The one model adapter: any transformers image-text-to-text model with a chat template.

``AutoProcessor`` (with the record's processor settings) + ``AutoModelForImageTextToText``
from a hub id or a local ``save_pretrained`` directory (the bundled tiny-vlm takes the
same path); items come as VLMEvalKit messages built by the record's prompt family,
batched greedy generation with left padding; only the newly generated tokens are
decoded. ``--dtype auto`` is bf16 from sm_80, float16 on older GPUs and fp32 on the
CPU (:mod:`vlmeval_core.gpu_support`). Attention: flash-attention 2 where it can
run, else sdpa, else eager, each tried in turn when the model refuses the one
before. A model copy spanning several GPUs is placed by accelerate
(``device_map="auto"``).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch

from vlmeval_core.distributed import world_size_unset
from vlmeval_core.errors import RuntimeFailure, UsageError
from vlmeval_core.gpu_support import FLASH_ATTENTION_MIN_CAPABILITY, Capability, auto_dtype
from vlmeval_core.models.record import ModelSpec
from vlmeval_core.prompt_families import FAMILIES, Message, conversation

DTYPES = {"bfloat16": torch.bfloat16, "float16": torch.float16, "float32": torch.float32}
HALF_DTYPES = (torch.bfloat16, torch.float16)


def resolve_dtype(name: str, capability: Capability | None) -> torch.dtype:
    """``auto``: bf16 from sm_80, float16 on older GPUs, fp32 on the CPU (capability None)."""
    return DTYPES[auto_dtype(capability) if name == "auto" else name]


def cuda_capability() -> Capability:
    """The lowest compute capability among the GPUs this rank sees."""
    return min(torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count()))


def device_map(gpus_per_model: int) -> str | None:
    """accelerate's placement for a model copy spanning several GPUs, else None (one device)."""
    return "auto" if gpus_per_model > 1 else None


@dataclass(frozen=True)
class Generation:
    """The answers to one batch and the tokens it took."""

    texts: list[str]
    prompt_tokens: int
    tokens: list[int]
    """Each answer's new tokens, its end token included (:func:`row_ends`)."""
    finish_reasons: list[str]
    """Each answer's ``"eos"`` or ``"length"`` (:func:`row_ends`)."""

    @property
    def generated_tokens(self) -> int:
        return sum(self.tokens)


def row_ends(new_tokens: torch.Tensor, end_ids: Sequence[int]) -> tuple[list[int], list[str]]:
    """For each row of a batch's new tokens (a row that ended early is padded after its
    end): the tokens up to and including its first end token and ``"eos"``, or, without
    one, every token and ``"length"`` (``max_new_tokens`` reached)."""
    ended = torch.isin(new_tokens, torch.tensor(list(end_ids), dtype=new_tokens.dtype))
    has_end = ended.any(dim=1)
    counts = torch.where(has_end, ended.int().argmax(dim=1) + 1, new_tokens.shape[1])
    return counts.tolist(), ["eos" if end else "length" for end in has_end.tolist()]


def end_token_ids(generation_config: Any) -> list[int]:
    """The tokens ``generate`` stops a row at: the generation config's ``eos_token_id``."""
    ids = generation_config.eos_token_id
    return [] if ids is None else [ids] if isinstance(ids, int) else list(ids)


CONTEXT_FALLBACK_TOKENS = 131072
"""The prompt-token bound of a model whose config states no context length."""


class PromptTooLong(ValueError):
    """An item whose prompt exceeds the model's context: it fails alone, before generation."""


def context_length(config: Any) -> int:
    """The most positions the model's language part takes (``max_position_embeddings``)."""
    text_config = config.get_text_config() if hasattr(config, "get_text_config") else config
    for source in (text_config, config):
        value = getattr(source, "max_position_embeddings", None)
        if isinstance(value, int) and value > 0:
            return value
    return CONTEXT_FALLBACK_TOKENS


class VisionLanguageModel:
    """A loaded model and its processor, ready to answer batches of (images, prompt)."""

    def __init__(self, spec: ModelSpec, device: str) -> None:
        from transformers import AutoModelForImageTextToText, AutoProcessor

        self.spec = spec
        self.device = torch.device("cuda", 0) if device == "cuda" else torch.device("cpu")
        capability = cuda_capability() if device == "cuda" else None
        self.dtype = resolve_dtype(spec.dtype, capability)
        common: dict[str, Any] = {
            "revision": spec.revision,
            "trust_remote_code": spec.trust_remote_code,
        }
        self.family = FAMILIES[spec.prompt_family]
        self.system_prompt = self.family.system_prompt
        settings = self.family.processor_kwargs(spec.processor)
        try:
            self.processor = AutoProcessor.from_pretrained(spec.path, **common, **settings)
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
        placement = device_map(spec.gpus_per_model)
        if placement is not None:
            load_kwargs["device_map"] = placement
        model, self.attention = load_with_attention_fallback(
            AutoModelForImageTextToText,
            spec,
            attention_candidates(device, self.dtype, capability),
            load_kwargs,
        )
        if placement is None:
            model = model.to(self.device)
        self.model = model.eval()
        self.commit = getattr(model.config, "_commit_hash", None)
        takes_kwargs_dict = (
            "processor_kwargs" in inspect.signature(self.processor.apply_chat_template).parameters
        )  # transformers >= 5
        self._takes_kwargs_dict = takes_kwargs_dict
        self.prompt_tokens_limit = context_length(model.config)
        self.pad_token_id = tokenizer.pad_token_id
        if self.pad_token_id is None:
            self.pad_token_id = tokenizer.eos_token_id
        self.end_token_ids = end_token_ids(model.generation_config)

    def encode(
        self, batch: Sequence[Sequence[Message]], processor: Mapping[str, Any] | None = None
    ) -> Any:
        """The processor's tensors for a batch of VLMEvalKit messages, left-padded, on the
        CPU (pinned for a GPU). ``processor`` overrides some of the record's processor
        settings for this call (a family's setting for one dataset). Safe to call from a
        background thread while the model generates.
        """
        options: dict[str, Any] = {"padding": True}
        if processor:
            options.update(self.family.processor_kwargs({**self.spec.processor, **processor}))
        conversations = [conversation(messages, self.system_prompt) for messages in batch]
        inputs = self.processor.apply_chat_template(
            conversations,
            add_generation_prompt=True,
            tokenize=True,
            return_dict=True,
            return_tensors="pt",
            **({"processor_kwargs": options} if self._takes_kwargs_dict else options),
        ).to(self.dtype)  # floating tensors only
        longest = int(inputs["attention_mask"].sum(dim=1).max())
        if longest > self.prompt_tokens_limit:
            raise PromptTooLong(
                f"a prompt of {longest} tokens, over the model's context of "
                f"{self.prompt_tokens_limit} tokens"
            )
        if self.device.type == "cuda":
            for key, value in inputs.items():
                if isinstance(value, torch.Tensor):
                    inputs[key] = value.pin_memory()
        return inputs

    @torch.inference_mode()
    def generate_encoded(self, inputs: Any, max_new_tokens: int, **extra: Any) -> Generation:
        """Greedy answers for encoded ``inputs``; ``extra`` goes to ``generate`` as is."""
        # A new mapping, not BatchFeature.to (which works in place): the caller's CPU
        # tensors stay on the CPU, and the device copies die with this frame.
        inputs = {
            key: value.to(self.model.device, non_blocking=True)
            if isinstance(value, torch.Tensor)
            else value
            for key, value in inputs.items()
        }
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
        new_tokens = output[:, inputs["input_ids"].shape[1] :].cpu()
        texts = self.processor.batch_decode(new_tokens, skip_special_tokens=True)
        tokens, finish_reasons = row_ends(new_tokens, self.end_token_ids)
        return Generation(
            texts=[t.strip() for t in texts],
            prompt_tokens=int(inputs["attention_mask"].sum()),
            tokens=tokens,
            finish_reasons=finish_reasons,
        )

    def generate(self, batch: Sequence[Sequence[Message]], max_new_tokens: int) -> list[str]:
        """Greedy answers for ``batch``, one string per item, without the prompt."""
        return self.generate_encoded(self.encode(batch), max_new_tokens).texts


def attention_candidates(
    device: str, dtype: torch.dtype, capability: Capability | None
) -> list[str]:
    """Fastest first: flash-attention 2 where it can run (an importable ``flash_attn``, a
    half dtype, sm_80 or newer), then sdpa, then eager for models without sdpa."""
    flash = (
        device == "cuda"
        and dtype in HALF_DTYPES
        and capability is not None
        and capability >= FLASH_ATTENTION_MIN_CAPABILITY
        and _flash_attn_importable()
    )
    return ["flash_attention_2", "sdpa", "eager"] if flash else ["sdpa", "eager"]


def _flash_attn_importable() -> bool:
    """True when ``flash_attn`` imports: a broken build (an undefined symbol) does not count."""
    try:
        import flash_attn  # noqa: F401
    except Exception:
        return False
    return True


def load_with_attention_fallback(
    auto_class: Any, spec: ModelSpec, candidates: Sequence[str], load_kwargs: dict[str, Any]
) -> tuple[Any, str]:
    """``from_pretrained`` with each attention implementation in turn; (model, the one used).

    transformers refuses an implementation the architecture lacks with a ValueError
    ("does not support Flash Attention 2 yet", "… scaled_dot_product_attention yet")
    and a flash_attn it cannot use with an ImportError: both move on to the next.
    """
    for attention in candidates:
        try:
            with world_size_unset():
                model = auto_class.from_pretrained(
                    spec.path, attn_implementation=attention, **load_kwargs
                )
            return model, attention
        except (ValueError, ImportError) as exc:
            if attention != candidates[-1] and _refuses_attention(exc):
                continue
            raise _load_error(spec, "model", exc) from exc
        except (torch.OutOfMemoryError, RuntimeError) as exc:
            raise RuntimeFailure(f"model {spec.path!r} could not be loaded: {exc}") from exc
        except Exception as exc:
            raise _load_error(spec, "model", exc) from exc
    raise AssertionError("unreachable: the last candidate returns or raises")


def _refuses_attention(exc: Exception) -> bool:
    """Whether a load error is about the attention implementation (not, say, a missing file)."""
    text = str(exc).lower()
    return any(word in text for word in ("attn", "attention", "flash", "sdpa"))


def _causes(exc: BaseException) -> list[BaseException]:
    """``exc`` and what it was raised from or during, outermost first."""
    chain: list[BaseException] = []
    cause: BaseException | None = exc
    while cause is not None and cause not in chain:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    return chain


def _load_error(spec: ModelSpec, part: str, exc: Exception) -> Exception:
    """The one-line error of a failed load, naming its real cause: a missing package, a
    model directory without the files, a gated or unknown repository, a cache miss
    (the hub's LocalEntryNotFoundError, whatever wraps it), else the error itself."""
    from huggingface_hub import constants
    from huggingface_hub.errors import (
        GatedRepoError,
        LocalEntryNotFoundError,
        RepositoryNotFoundError,
        RevisionNotFoundError,
    )

    chain = _causes(exc)
    first_line = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
    if any(isinstance(e, ImportError) for e in chain):
        return RuntimeFailure(
            f"model {spec.path!r}: its {part} needs a package that is not installed: {first_line}"
        )
    if spec.source in ("local", "bundled"):
        return UsageError(
            f"model directory {spec.path!r} has no loadable {part} ({first_line}); "
            "it needs the files of model.save_pretrained and "
            "processor.save_pretrained"
        )
    if any(isinstance(e, GatedRepoError) for e in chain):
        return UsageError(
            f"model {spec.path!r} is gated: accept its licence on the hub and "
            "pass a token in HF_TOKEN"
        )
    if any(isinstance(e, RepositoryNotFoundError | RevisionNotFoundError) for e in chain):
        return UsageError(
            f"model {spec.path!r}{'@' + spec.revision if spec.revision else ''} "
            "was not found on the hub: check the id (and HF_TOKEN for a private one)"
        )
    if any(isinstance(e, LocalEntryNotFoundError) for e in chain):
        return RuntimeFailure(
            f"model {spec.path!r} is not in the cache {str(constants.HF_HOME)!r} and the "
            "hub cannot be reached (offline?): run `vlmeval fetch` first or "
            "mount a filled cache"
        )
    return RuntimeFailure(f"model {spec.path!r}: loading its {part} failed: {first_line}")
