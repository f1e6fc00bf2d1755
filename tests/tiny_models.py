"""Tiny random-weights models of every registered architecture, built inside the tests.

One function per architecture, each saving a ``save_pretrained`` directory (model,
processor, tokenizer, chat template) in well under a second. Each uses transformers'
own config, image processor, processor and tokenizer classes, a small BPE tokenizer
holding its family's special tokens, and its family's chat template as the model
repository ships it, copied as data from a public copy (cited beside each).
:data:`BUILDERS` maps each registered model's name to its builder.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import (
    CLIPImageProcessor,
    CLIPVisionConfig,
    Gemma3Config,
    Gemma3ForConditionalGeneration,
    Gemma3ImageProcessor,
    Gemma3Processor,
    Gemma3TextConfig,
    GotOcr2ImageProcessor,
    Idefics3Config,
    Idefics3ForConditionalGeneration,
    Idefics3ImageProcessor,
    Idefics3Processor,
    Idefics3VisionConfig,
    InternVLConfig,
    InternVLForConditionalGeneration,
    InternVLProcessor,
    InternVLVideoProcessor,
    InternVLVisionConfig,
    LlamaConfig,
    LlavaConfig,
    LlavaForConditionalGeneration,
    LlavaOnevisionConfig,
    LlavaOnevisionForConditionalGeneration,
    LlavaOnevisionImageProcessor,
    LlavaOnevisionProcessor,
    LlavaOnevisionVideoProcessor,
    LlavaProcessor,
    PreTrainedTokenizerFast,
    Qwen2_5_VLConfig,
    Qwen2_5_VLForConditionalGeneration,
    Qwen2_5_VLProcessor,
    Qwen2Config,
    Qwen2VLConfig,
    Qwen2VLForConditionalGeneration,
    Qwen2VLImageProcessor,
    Qwen2VLProcessor,
    Qwen2VLVideoProcessor,
    SiglipVisionConfig,
    SmolVLMConfig,
    SmolVLMForConditionalGeneration,
    SmolVLMImageProcessor,
    SmolVLMProcessor,
    SmolVLMVideoProcessor,
    SmolVLMVisionConfig,
)
from transformers.models.smolvlm.processing_smolvlm import DEFAULT_CHAT_TEMPLATE

# Qwen/Qwen2-VL-7B-Instruct's chat_template.json (Qwen2-VL-2B and Qwen2.5-VL-3B/7B ship the
# same text), as public code vendors it verbatim (code search for its
# "{% if add_vision_id %}Picture {{ image_count.value }}: " fragment).
QWEN2_VL_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}{% if add_vision_id %}"
    "Picture {{ image_count.value }}: {% endif %}<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}{% if add_vision_id %}"
    "Video {{ video_count.value }}: {% endif %}<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# transformers src/transformers/models/internvl/convert_internvl_weights_to_hf.py
# (huggingface/transformers@18a29076): the chat_template of every converted -hf repository.
INTERNVL_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n'}}"
    "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
    "{% for content in message['content'] %}{% if content['type'] == 'image' %}"
    "{{ '<IMG_CONTEXT>\n' }}{% elif content['type'] == 'video' %}{{ '<video>\n' }}"
    "{% elif content['type'] == 'text' %}{{ content['text'] }}{% endif %}{% endfor %}"
    "{% endif %}{{'<|im_end|>\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{'<|im_start|>assistant\n' }}{% endif %}"
)

# transformers tests/models/llava/test_processing_llava.py (huggingface/transformers@043bb8dd),
# "must match processor_config.json from the Hub repo" llava-hf/llava-1.5-7b-hf.
LLAVA_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] != 'system' %}"
    "{{ message['role'].upper() + ': '}}{% endif %}{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>\n' }}{% endfor %}{# Render all text next #}"
    "{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ content['text'] + ' '}}{% endfor %}{% else %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ content['text'] + ' '}}{% endgeneration %}{% endfor %}{% endif %}"
    "{% endfor %}{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
)

# transformers tests/models/llava_onevision/test_processing_llava_onevision.py
# (huggingface/transformers@e6ca32c8): llava-hf/llava-onevision-qwen2-0.5b-ov-hf's template.
LLAVA_ONEVISION_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + ' '}}"
    "{# Render all images first #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'image') %}"
    "{{ '<image>' }}{% endfor %}{# Render all video then #}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'video') %}"
    "{{ '<video>' }}{% endfor %}{# Render all text next #}"
    "{% if message['role'] != 'assistant' %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{{ '\n' + content['text'] }}{% endfor %}{% else %}"
    "{% for content in message['content'] | selectattr('type', 'equalto', 'text') %}"
    "{% generation %}{{ '\n' + content['text'] }}{% endgeneration %}{% endfor %}{% endif %}"
    "{{'<|im_end|>'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)

# HuggingFaceM4/Idefics3-8B-Llama3's chat_template: the one transformers
# tests/models/idefics3/test_processing_idefics3.py (test_apply_chat_template) renders.
IDEFICS3_TEMPLATE = (
    "<|begin_of_text|>{% for message in messages %}{{message['role'].capitalize()}}"
    "{% if message['content'][0]['type'] == 'image' %}{{':'}}{% else %}{{': '}}{% endif %}"
    "{% for line in message['content'] %}{% if line['type'] == 'text' %}{{line['text']}}"
    "{% elif line['type'] == 'image' %}{{ '<image>' }}{% endif %}{% endfor %}"
    "<end_of_utterance>\n{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}"
)

SMOLVLM_TEMPLATE = DEFAULT_CHAT_TEMPLATE
"""transformers' own SmolVLM template (models/smolvlm/processing_smolvlm.py, as installed)."""

# transformers tests/models/gemma3/test_processing_gemma3.py (huggingface/transformers@033522b1):
# google/gemma-3-4b-it's template for user/assistant turns of text and images.
GEMMA3_TEMPLATE = (
    "{{ bos_token }}\n{%- if messages[0]['role'] == 'system' -%}\n"
    "    {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\n\n' -%}\n"
    "    {%- set loop_messages = messages[1:] -%}\n{%- else -%}\n"
    '    {%- set first_user_prefix = "" -%}\n    {%- set loop_messages = messages -%}\n'
    "{%- endif -%}\n{%- for message in loop_messages -%}\n"
    "    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}\n"
    '        {{ raise_exception("Conversation roles must alternate user/assistant/user/'
    'assistant/...") }}\n    {%- endif -%}\n'
    "    {%- if (message['role'] == 'assistant') -%}\n"
    '        {%- set role = "model" -%}\n    {%- else -%}\n'
    "        {%- set role = message['role'] -%}\n    {%- endif -%}\n"
    "    {{ '<start_of_turn>' + role + '\n' + (first_user_prefix if loop.first else \"\") }}\n"
    "    {%- if message['content'] is string -%}\n        {{ message['content'] | trim }}\n"
    "    {%- elif message['content'] is iterable -%}\n"
    "        {%- for item in message['content'] -%}\n"
    "            {%- if item['type'] == 'image' -%}\n                {{ '<start_of_image>' }}\n"
    "            {%- elif item['type'] == 'text' -%}\n"
    "                {{ item['text'] | trim }}\n            {%- endif -%}\n"
    "        {%- endfor -%}\n    {%- else -%}\n"
    '        {{ raise_exception("Invalid content type") }}\n    {%- endif -%}\n'
    "    {{ '<end_of_turn>\n' }}\n{%- endfor -%}\n{%- if add_generation_prompt -%}\n"
    "    {{'<start_of_turn>model\n'}}\n{%- endif -%}\n"
)

CORPUS = [
    "What color is the shape? Answer the question using a single word or phrase.",
    "Question: Which shape is shown? Options: A. circle B. square C. triangle D. star",
    "Is the shape red? Please answer yes or no. Answer with the option's letter directly.",
]
WIDTH = 32
"""Every tiny model's hidden size (vision and text)."""
SPREAD = 0.2
"""The weights' standard deviation: wide enough that answers differ from item to item."""


def _tokenizer(specials: list[str], **named: Any) -> PreTrainedTokenizerFast:
    """A byte-level BPE of ~300 tokens over :data:`CORPUS`; ``specials`` come first (ids 0…)."""
    bpe = Tokenizer(models.BPE())
    bpe.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    bpe.decoder = decoders.ByteLevel()
    bpe.train_from_iterator(
        CORPUS,
        trainers.BpeTrainer(
            vocab_size=300 + len(specials),
            special_tokens=specials,
            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        ),
    )
    return PreTrainedTokenizerFast(tokenizer_object=bpe, **named)


def _text(config_class: type, tokenizer: PreTrainedTokenizerFast, **extra: Any) -> Any:
    """A two-layer language model config over ``tokenizer``'s vocabulary."""
    return config_class(
        vocab_size=len(tokenizer),
        hidden_size=WIDTH,
        intermediate_size=2 * WIDTH,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        initializer_range=SPREAD,
        **extra,
    )


def _vision(config_class: type, **extra: Any) -> Any:
    return config_class(
        hidden_size=WIDTH,
        intermediate_size=2 * WIDTH,
        num_hidden_layers=1,
        num_attention_heads=2,
        initializer_range=SPREAD,
        **extra,
    )


def _save(directory: Path, model: Any, processor: Any, end_tokens: list[str]) -> Path:
    """Save ``model`` (generation stopping at ``end_tokens``) and ``processor``."""
    ids = processor.tokenizer.convert_tokens_to_ids(end_tokens)
    model.generation_config.eos_token_id = ids if len(ids) > 1 else ids[0]
    model.generation_config.pad_token_id = processor.tokenizer.pad_token_id
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory


QWEN_TOKENS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|vision_start|>",
               "<|vision_end|>", "<|image_pad|>", "<|video_pad|>"]  # fmt: skip


def _qwen_parts(pixels: tuple[int, int]) -> tuple[PreTrainedTokenizerFast, dict[str, Any]]:
    """The tokenizer and processor parts every Qwen-VL shares; ``pixels`` (min, max) the
    image processor's defaults (a run passes the record's)."""
    tokenizer = _tokenizer(QWEN_TOKENS, pad_token="<|endoftext|>", eos_token="<|im_end|>")
    size = {"shortest_edge": pixels[0], "longest_edge": pixels[1]}
    parts = {
        "image_processor": Qwen2VLImageProcessor(size=size),
        "video_processor": Qwen2VLVideoProcessor(size=size),
        "tokenizer": tokenizer,
        "chat_template": QWEN2_VL_TEMPLATE,
    }
    return tokenizer, parts


def _qwen_ids(tokenizer: PreTrainedTokenizerFast) -> dict[str, int]:
    ids = tokenizer.convert_tokens_to_ids
    return {
        "image_token_id": ids("<|image_pad|>"),
        "video_token_id": ids("<|video_pad|>"),
        "vision_start_token_id": ids("<|vision_start|>"),
        "vision_end_token_id": ids("<|vision_end|>"),
    }


MROPE = {"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]}
"""Qwen-VL's multimodal rotary sections: half of the 16-wide attention head."""


def build_qwen2_vl(directory: Path) -> Path:
    """Qwen2-VL: Qwen2VLProcessor (dynamic resolution, 14-pixel patches merged 2×2)."""
    tokenizer, parts = _qwen_parts((56 * 56, 112 * 112))
    config = Qwen2VLConfig(
        text_config=_text(Qwen2Config, tokenizer, rope_parameters=MROPE),
        vision_config={"depth": 1, "embed_dim": WIDTH, "hidden_size": WIDTH, "num_heads": 2,
                       "mlp_ratio": 2, "patch_size": 14, "spatial_merge_size": 2},
        **_qwen_ids(tokenizer),
    )  # fmt: skip
    return _save(
        directory,
        Qwen2VLForConditionalGeneration(config),
        Qwen2VLProcessor(**parts),
        ["<|im_end|>"],
    )


def build_qwen2_5_vl(directory: Path) -> Path:
    """Qwen2.5-VL: its windowed vision tower, Qwen2_5_VLProcessor."""
    tokenizer, parts = _qwen_parts((56 * 56, 112 * 112))
    config = Qwen2_5_VLConfig(
        text_config=_text(Qwen2Config, tokenizer, rope_parameters=MROPE),
        vision_config={"depth": 2, "hidden_size": WIDTH, "out_hidden_size": WIDTH,
                       "intermediate_size": 2 * WIDTH, "num_heads": 2, "patch_size": 14,
                       "spatial_merge_size": 2, "window_size": 56, "fullatt_block_indexes": [1]},
        **_qwen_ids(tokenizer),
    )  # fmt: skip
    return _save(
        directory,
        Qwen2_5_VLForConditionalGeneration(config),
        Qwen2_5_VLProcessor(**parts),
        ["<|im_end|>"],
    )


def build_internvl(directory: Path) -> Path:
    """InternVL (-hf): InternVLProcessor with GotOcr2's tiling (up to 2 tiles and a
    thumbnail), pixel shuffle to 4 tokens a tile."""
    tokenizer = _tokenizer(
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<img>", "</img>", "<IMG_CONTEXT>",
         "<video>"],
        pad_token="<|endoftext|>",
        eos_token="<|im_end|>",
        extra_special_tokens={"start_image_token": "<img>", "end_image_token": "</img>",
                              "context_image_token": "<IMG_CONTEXT>", "video_token": "<video>"},
    )  # fmt: skip
    processor = InternVLProcessor(
        image_processor=GotOcr2ImageProcessor(
            size={"height": 56, "width": 56}, crop_to_patches=True, max_patches=2
        ),
        video_processor=InternVLVideoProcessor(size={"height": 56, "width": 56}),
        tokenizer=tokenizer,
        image_seq_length=4,
        chat_template=INTERNVL_TEMPLATE,
    )
    config = InternVLConfig(
        vision_config=_vision(InternVLVisionConfig, image_size=[56, 56], patch_size=[14, 14]),
        text_config=_text(Qwen2Config, tokenizer),
        image_token_id=tokenizer.convert_tokens_to_ids("<IMG_CONTEXT>"),
        downsample_ratio=0.5,
        vision_feature_layer=-1,
    )
    return _save(directory, InternVLForConditionalGeneration(config), processor, ["<|im_end|>"])


def build_llava(directory: Path) -> Path:
    """LLaVA-1.5: CLIP vision + Llama text, LlavaProcessor (one 28-pixel crop, 4 tokens)."""
    tokenizer = _tokenizer(
        ["<pad>", "</s>", "<s>", "<image>"],
        pad_token="<pad>",
        eos_token="</s>",
        bos_token="<s>",
        extra_special_tokens={"image_token": "<image>"},
    )
    processor = LlavaProcessor(
        image_processor=CLIPImageProcessor(
            size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28}
        ),
        tokenizer=tokenizer,
        patch_size=14,
        vision_feature_select_strategy="default",
        num_additional_image_tokens=1,
        chat_template=LLAVA_TEMPLATE,
    )
    config = LlavaConfig(
        vision_config=_vision(CLIPVisionConfig, image_size=28, patch_size=14),
        text_config=_text(LlamaConfig, tokenizer),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        image_seq_length=4,
        vision_feature_layer=-1,
    )
    return _save(directory, LlavaForConditionalGeneration(config), processor, ["</s>"])


def build_llava_onevision(directory: Path) -> Path:
    """LLaVA-OneVision: SigLIP + Qwen2, anyres tiling over 28-pixel tiles (up to 2×2)."""
    tokenizer = _tokenizer(
        ["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>", "<video>"],
        pad_token="<|endoftext|>",
        eos_token="<|im_end|>",
        extra_special_tokens={"image_token": "<image>", "video_token": "<video>"},
    )
    pinpoints = [[28, 28], [28, 56], [56, 28], [56, 56]]
    processor = LlavaOnevisionProcessor(
        image_processor=LlavaOnevisionImageProcessor(
            size={"height": 28, "width": 28}, image_grid_pinpoints=pinpoints
        ),
        video_processor=LlavaOnevisionVideoProcessor(size={"height": 28, "width": 28}),
        tokenizer=tokenizer,
        num_image_tokens=4,
        vision_feature_select_strategy="full",
        chat_template=LLAVA_ONEVISION_TEMPLATE,
    )
    config = LlavaOnevisionConfig(
        vision_config=_vision(SiglipVisionConfig, image_size=28, patch_size=14),
        text_config=_text(Qwen2Config, tokenizer),
        image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
        video_token_index=tokenizer.convert_tokens_to_ids("<video>"),
        image_grid_pinpoints=pinpoints,
        vision_feature_select_strategy="full",
        vision_feature_layer=-1,
    )
    return _save(
        directory, LlavaOnevisionForConditionalGeneration(config), processor, ["<|im_end|>"]
    )


IDEFICS_TOKENS = ["<|end_of_text|>", "<|begin_of_text|>", "<end_of_utterance>",
                  "<fake_token_around_image>", "<image>", "<global-img>"] + [
    f"<row_{r}_col_{c}>" for r in (1, 2) for c in (1, 2)
]  # fmt: skip


def _idefics_tokenizer(bos: str) -> PreTrainedTokenizerFast:
    return _tokenizer(
        IDEFICS_TOKENS, pad_token="<|end_of_text|>", eos_token="<|end_of_text|>", bos_token=bos
    )


def build_idefics3(directory: Path, image_splitting: bool = True) -> Path:
    """Idefics3: SigLIP-like tower on 56-pixel tiles (split up to 2×2 plus the whole image
    where ``image_splitting``), pixel shuffle by 2 to 4 tokens a tile, Llama text."""
    tokenizer = _idefics_tokenizer("<|begin_of_text|>")
    processor = Idefics3Processor(
        image_processor=Idefics3ImageProcessor(
            size={"longest_edge": 112},
            max_image_size={"longest_edge": 56},
            do_image_splitting=image_splitting,
        ),
        tokenizer=tokenizer,
        image_seq_len=4,
        chat_template=IDEFICS3_TEMPLATE,
    )
    config = Idefics3Config(
        vision_config=_vision(Idefics3VisionConfig, image_size=56, patch_size=14),
        text_config=_text(LlamaConfig, tokenizer),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        scale_factor=2,
    )
    return _save(
        directory,
        Idefics3ForConditionalGeneration(config),
        processor,
        ["<end_of_utterance>", "<|end_of_text|>"],
    )


def build_smolvlm(directory: Path) -> Path:
    """SmolVLM: transformers' SmolVLM classes (Idefics3's layout; the processor needs
    ``num2words``), 56-pixel tiles split up to 2×2."""
    tokenizer = _idefics_tokenizer("<|im_start|>")
    tokenizer.add_special_tokens({"additional_special_tokens": ["<|im_start|>"]})
    image_processor = SmolVLMImageProcessor(
        size={"longest_edge": 112}, max_image_size={"longest_edge": 56}
    )
    processor = SmolVLMProcessor(
        image_processor=image_processor,
        video_processor=SmolVLMVideoProcessor(
            size={"longest_edge": 56}, max_image_size={"longest_edge": 56}
        ),
        tokenizer=tokenizer,
        image_seq_len=4,
        chat_template=SMOLVLM_TEMPLATE,
    )
    config = SmolVLMConfig(
        vision_config=_vision(SmolVLMVisionConfig, image_size=56, patch_size=14),
        text_config=_text(LlamaConfig, tokenizer),
        image_token_id=tokenizer.convert_tokens_to_ids("<image>"),
        scale_factor=2,
    )
    return _save(
        directory,
        SmolVLMForConditionalGeneration(config),
        processor,
        ["<end_of_utterance>", "<|end_of_text|>"],
    )


def build_gemma3(directory: Path) -> Path:
    """Gemma 3: SigLIP on 56-pixel images pooled to 4 soft tokens, Gemma 3 text (sliding
    and global layers), Gemma3Processor (pan-and-scan off, as the model repository)."""
    tokenizer = _tokenizer(
        ["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>",
         "<end_of_image>", "<image_soft_token>"],
        pad_token="<pad>",
        eos_token="<eos>",
        bos_token="<bos>",
        extra_special_tokens={"image_token": "<image_soft_token>", "boi_token": "<start_of_image>",
                              "eoi_token": "<end_of_image>"},
    )  # fmt: skip
    processor = Gemma3Processor(
        image_processor=Gemma3ImageProcessor(size={"height": 56, "width": 56}),
        tokenizer=tokenizer,
        image_seq_length=4,
        chat_template=GEMMA3_TEMPLATE,
    )
    ids = tokenizer.convert_tokens_to_ids
    config = Gemma3Config(
        text_config=_text(
            Gemma3TextConfig,
            tokenizer,
            head_dim=16,
            sliding_window=16,
            layer_types=["sliding_attention", "full_attention"],
            bos_token_id=tokenizer.bos_token_id,
        ),
        vision_config=_vision(SiglipVisionConfig, image_size=56, patch_size=14),
        mm_tokens_per_image=4,
        boi_token_index=ids("<start_of_image>"),
        eoi_token_index=ids("<end_of_image>"),
        image_token_index=ids("<image_soft_token>"),
    )
    return _save(
        directory, Gemma3ForConditionalGeneration(config), processor, ["<end_of_turn>", "<eos>"]
    )


BUILDERS: dict[str, Callable[[Path], Path]] = {
    "Qwen2-VL-2B-Instruct": build_qwen2_vl,
    "Qwen2.5-VL-3B-Instruct": build_qwen2_5_vl,
    "InternVL3-1B-hf": build_internvl,
    "llava-1.5-7b-hf": build_llava,
    "llava-onevision-qwen2-0.5b-ov-hf": build_llava_onevision,
    "Idefics3-8B-Llama3": build_idefics3,
    "SmolVLM-Instruct": build_smolvlm,
    "gemma-3-4b-it": build_gemma3,
}
"""A registered model of each architecture -> the builder of its tiny twin."""


CONFIGS = Path(__file__).resolve().parent.parent / "benchmarks" / "configs"
REAL_SIZE = {
    spec["registered"]: path
    for path in sorted(CONFIGS.glob("*.json"))
    if "registered" in (spec := json.loads(path.read_text()))
}
"""A registered model -> the file of its real dimensions (text, vision, top-level keys,
processor): each config under benchmarks/configs/ that names a registered model."""
NOT_CONFIG = ("_comment", "registered", "published_parameters", "model_type", "image_pixels",
              "processor", "text_config", "vision_config")  # fmt: skip
DERIVED = ("layer_types", "head_dim", "initializer_range", "transformers_version")
"""Keys a config derives from its dimensions, or the tiny twin's own: not carried over."""


def _scaled(config: Any, overrides: dict[str, Any]) -> dict[str, Any]:
    kept = {k: v for k, v in config.to_dict().items() if k not in DERIVED}
    return {**kept, **overrides}


def real_size_config(name: str, tiny: Path) -> Any:
    """The tiny twin's config (its token ids) at the real dimensions of :data:`REAL_SIZE`."""
    from transformers import AutoConfig

    spec = json.loads(REAL_SIZE[name].read_text())
    config = AutoConfig.from_pretrained(tiny)
    top = {k: v for k, v in spec.items() if k not in NOT_CONFIG}
    kept = {k: v for k, v in config.to_dict().items()
            if k not in (*DERIVED, "text_config", "vision_config")}  # fmt: skip
    return type(config)(
        **{**kept, **top},
        text_config=_scaled(config.text_config, spec["text_config"]),
        vision_config=_scaled(config.vision_config, spec["vision_config"]),
    )


def build_real_size(name: str, directory: Path, device: str, dtype: Any) -> Path:
    """Save a random-weights model of ``name``'s architecture at its real size, made on
    ``device`` in ``dtype``: the tiny twin's tokenizer, chat template and generation config,
    its processor at the real image sizes; logits of ids the tokenizer lacks zeroed, so
    that greedy answers decode (the compute is the full model's)."""
    import torch
    from transformers import AutoModelForImageTextToText, AutoProcessor, GenerationConfig

    tiny = BUILDERS[name](directory / "tiny")
    processor = AutoProcessor.from_pretrained(tiny)
    settings = json.loads(REAL_SIZE[name].read_text()).get("processor", {})
    for key, value in settings.items():
        if key == "image_processor":
            for attribute, setting in value.items():
                setattr(processor.image_processor, attribute, setting)
        else:
            setattr(processor, key, value)
    with torch.device(device):
        torch.manual_seed(0)
        model = AutoModelForImageTextToText.from_config(real_size_config(name, tiny), dtype=dtype)
    with torch.no_grad():
        model.get_output_embeddings().weight[len(processor.tokenizer) :] = 0
    model.generation_config = GenerationConfig.from_pretrained(tiny)
    model.save_pretrained(directory)
    processor.save_pretrained(directory)
    return directory
