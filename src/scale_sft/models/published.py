"""The published checkpoints' architectures and image settings, applied to a tiny model's config and processor.

No weights are downloadable here, but speed and memory depend only on shapes: a tiny model's config (which
carries its own tokenizer's special-token ids) takes the published sizes, and its processor the published image
settings, so the model built from it (randomly initialised) runs exactly the published computation. The values
are those of each checkpoint's ``config.json`` / ``preprocessor_config.json``.
"""

from __future__ import annotations

import copy

LLAVA_PINPOINTS = [[336, 672], [672, 336], [672, 672], [1008, 336], [336, 1008]]

# arch -> (checkpoint, language-model sizes, vision-tower sizes); image settings are `published_image_config`'s
PUBLISHED = {
    "qwen2_5_vl": (
        "Qwen/Qwen2.5-VL-3B-Instruct",
        dict(vocab_size=151936, hidden_size=2048, intermediate_size=11008, num_hidden_layers=36,
             num_attention_heads=16, num_key_value_heads=2, max_position_embeddings=128000),
        dict(depth=32, hidden_size=1280, intermediate_size=3420, num_heads=16, out_hidden_size=2048,
             window_size=112, fullatt_block_indexes=[7, 15, 23, 31]),
    ),
    "gemma3": (
        "google/gemma-3-4b-it",
        dict(vocab_size=262208, hidden_size=2560, intermediate_size=10240, num_hidden_layers=34,
             num_attention_heads=8, num_key_value_heads=4, head_dim=256, query_pre_attn_scalar=256,
             sliding_window=1024, max_position_embeddings=131072,
             layer_types=[("full_attention" if (i + 1) % 6 == 0 else "sliding_attention") for i in range(34)]),
        dict(hidden_size=1152, intermediate_size=4304, num_hidden_layers=27, num_attention_heads=16),
    ),
    "llava_next": (
        "llava-hf/llava-v1.6-mistral-7b-hf",
        dict(vocab_size=32064, hidden_size=4096, intermediate_size=14336, num_hidden_layers=32,
             num_attention_heads=32, num_key_value_heads=8, head_dim=128, max_position_embeddings=32768),
        dict(hidden_size=1024, intermediate_size=4096, num_hidden_layers=24, num_attention_heads=16,
             projection_dim=768),
    ),
    "qwen2_text": (  # SmolLM2-135M-Instruct (a Llama): built as such by `published_text_config`
        "HuggingFaceTB/SmolLM2-135M-Instruct",
        dict(vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
             num_attention_heads=9, num_key_value_heads=3, head_dim=64, max_position_embeddings=8192,
             tie_word_embeddings=True),
        {},
    ),
}  # fmt: skip


def published_config(arch: str, tiny_config):
    """A copy of ``tiny_config`` (a tiny model's, so its special-token ids fit its tokenizer) at the published
    checkpoint's sizes and image settings."""
    _, text, vision = PUBLISHED[arch]
    if arch == "qwen2_text":
        return published_text_config(tiny_config)
    config = copy.deepcopy(tiny_config)
    for key, value in text.items():
        setattr(config.text_config, key, value)
    if getattr(config.text_config, "layer_types", None) is not None and "layer_types" not in text:
        # one entry per layer; Qwen2.5-VL and Mistral (llava-hf) use no sliding window
        config.text_config.layer_types = ["full_attention"] * config.text_config.num_hidden_layers
    for key, value in vision.items():
        setattr(config.vision_config, key, value)
    if arch == "qwen2_5_vl":
        config.vision_config.out_hidden_size = config.text_config.hidden_size
        eighth = config.text_config.hidden_size // config.text_config.num_attention_heads // 16
        # M-RoPE: the rotary pairs split 2:3:3 into time, height, width ([16, 24, 24] at head_dim 128)
        config.text_config.rope_parameters = {
            "rope_type": "default", "rope_theta": 1e6, "mrope_section": [2 * eighth, 3 * eighth, 3 * eighth]
        }  # fmt: skip
    published_image_config(arch, config)
    return config


def published_text_config(tiny_config):
    """SmolLM2-135M-Instruct's Llama config with the tiny text tokenizer's special-token ids."""
    from transformers import LlamaConfig

    _, text, _ = PUBLISHED["qwen2_text"]
    return LlamaConfig(
        **text,
        rope_theta=100000.0,
        bos_token_id=tiny_config.bos_token_id,
        eos_token_id=tiny_config.eos_token_id,
        pad_token_id=tiny_config.pad_token_id,
    )


def published_image_config(arch: str, config) -> None:
    """Set the published image settings on a vision-language ``config`` (in place)."""
    if arch == "gemma3":
        config.vision_config.image_size = 896
        config.mm_tokens_per_image = 256
    elif arch == "llava_next":
        config.vision_config.image_size = 336
        config.image_grid_pinpoints = LLAVA_PINPOINTS
        config.image_seq_length = 576
        config.text_config.max_position_embeddings = max(config.text_config.max_position_embeddings, 4096)


def published_processor(arch: str, processor):
    """A processor with ``processor``'s tokenizer and chat template and the published image processing."""
    from transformers import (
        Gemma3ImageProcessor,
        Gemma3Processor,
        LlavaNextImageProcessor,
        LlavaNextProcessor,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
    )

    tokenizer, template = processor.tokenizer, processor.chat_template
    if arch == "qwen2_5_vl":
        return Qwen2_5_VLProcessor(
            image_processor=Qwen2VLImageProcessor(min_pixels=3136, max_pixels=12845056),
            tokenizer=tokenizer,
            video_processor=processor.video_processor,
            chat_template=template,
        )
    if arch == "gemma3":
        image_processor = Gemma3ImageProcessor(
            size={"height": 896, "width": 896}, image_mean=[0.5] * 3, image_std=[0.5] * 3, do_pan_and_scan=False
        )
        return Gemma3Processor(
            image_processor=image_processor, tokenizer=tokenizer, chat_template=template, image_seq_length=256
        )
    if arch == "llava_next":
        image_processor = LlavaNextImageProcessor(
            size={"shortest_edge": 336},
            crop_size={"height": 336, "width": 336},
            image_grid_pinpoints=LLAVA_PINPOINTS,
        )
        return LlavaNextProcessor(
            image_processor=image_processor,
            tokenizer=tokenizer,
            patch_size=14,
            vision_feature_select_strategy="default",
            chat_template=template,
            image_token="<image>",
            num_additional_image_tokens=1,
        )
    raise ValueError(f"No published image settings for {arch!r}")
