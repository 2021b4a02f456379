"""Tiny, randomly initialised models of the real architectures, built offline.

No weights can be downloaded here, so tests and the demo use models this module builds: the real model and
processor classes with a few layers, and a byte-level BPE tokenizer trained locally on the synthetic corpus.
They are saved with ``save_pretrained`` and loaded back only by path through ``AutoModelForImageTextToText`` /
``AutoProcessor``, the code path a hub checkpoint takes.

Each architecture is one builder in ``ARCHITECTURES``; everything specific to it (special tokens, chat template,
configs, processor) stays inside that builder. The vision-language builders live here, the text-only ones
(``TEXT_ARCHITECTURES``, loaded through ``AutoModelForCausalLM`` / ``AutoTokenizer``) in ``tiny_text``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import torch

from scale_sft.models.chat_templates import GEMMA3_CHAT_TEMPLATE, LLAVA_NEXT_CHAT_TEMPLATE, QWEN_CHAT_TEMPLATE
from scale_sft.models.tiny_common import TinySize, text_config, tokenizer_and_ids
from scale_sft.models.tiny_text import build_qwen2_text
from scale_sft.tags import DEFAULT_TAGS, CotTags, TagArguments


def _qwen2_5_vl_config(size: TinySize, vocab_size: int, ids: dict[str, int]):
    from transformers import Qwen2_5_VLConfig

    head_dim = size.hidden_size // size.num_heads
    eighth = head_dim // 16  # M-RoPE splits the head_dim / 2 rotary pairs 2:3:3 into time, height, width
    return Qwen2_5_VLConfig(
        text_config={
            **text_config(size, vocab_size),
            "rope_parameters": {
                "rope_type": "default",
                "rope_theta": 10000.0,
                "mrope_section": [eighth * 2, eighth * 3, eighth * 3],
            },
            "bos_token_id": ids["<|endoftext|>"],
            "eos_token_id": ids["<|im_end|>"],
            "pad_token_id": ids["<|endoftext|>"],
        },
        vision_config={
            "depth": size.vision_depth,
            "hidden_size": size.vision_hidden_size,
            "intermediate_size": size.vision_hidden_size * 2,
            "num_heads": 2,
            "out_hidden_size": size.hidden_size,
            "patch_size": 14,
            "spatial_merge_size": 2,
            "temporal_patch_size": 2,
            "window_size": 56,
            "fullatt_block_indexes": [size.vision_depth - 1],
        },
        image_token_id=ids["<|image_pad|>"],
        video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"],
        tie_word_embeddings=True,
    )


def build_qwen2_5_vl(texts: Iterable[str], size: TinySize, special_tags: bool, tags: CotTags, seed: int):
    """A tiny ``Qwen2_5_VLForConditionalGeneration`` and its real processor classes."""
    from transformers import (
        Qwen2_5_VLForConditionalGeneration,
        Qwen2_5_VLProcessor,
        Qwen2VLImageProcessor,
        Qwen2VLVideoProcessor,
    )

    specials = [
        "<|endoftext|>",
        "<|im_start|>",
        "<|im_end|>",
        "<|vision_start|>",
        "<|vision_end|>",
        "<|image_pad|>",
        "<|video_pad|>",
    ]
    tokenizer, ids = tokenizer_and_ids(
        texts, specials, size, special_tags, tags, pad_token="<|endoftext|>", eos_token="<|im_end|>"
    )
    config = _qwen2_5_vl_config(size, len(tokenizer), ids)
    torch.manual_seed(seed)
    model = Qwen2_5_VLForConditionalGeneration(config)
    # Small images keep sequences short on CPU: at most 16x16 patches of 14 px (64 image tokens after merging).
    image_processor = Qwen2VLImageProcessor(min_pixels=56 * 56, max_pixels=224 * 224)
    processor = Qwen2_5_VLProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        video_processor=Qwen2VLVideoProcessor(),
        chat_template=QWEN_CHAT_TEMPLATE,
    )
    return model, processor


def _gemma3_config(
    size: TinySize, vocab_size: int, ids: dict[str, int], image_size: int, mm_tokens_per_image: int
):
    from transformers import Gemma3Config, Gemma3TextConfig, SiglipVisionConfig

    patch_size = 14
    head_dim = size.hidden_size // size.num_heads
    return Gemma3Config(
        text_config=Gemma3TextConfig(
            **text_config(size, vocab_size),
            head_dim=head_dim,
            query_pre_attn_scalar=head_dim,
            # Gemma 3 interleaves sliding-window and global layers (5:1); a window shorter than a sample keeps
            # both kinds of mask in play.
            sliding_window=128,
            layer_types=["sliding_attention"] * (size.num_layers - 1) + ["full_attention"],
            bos_token_id=ids["<bos>"],
            eos_token_id=ids["<eos>"],
            pad_token_id=ids["<pad>"],
        ),
        vision_config=SiglipVisionConfig(
            hidden_size=size.vision_hidden_size,
            intermediate_size=size.vision_hidden_size * 2,
            num_hidden_layers=size.vision_depth,
            num_attention_heads=2,
            image_size=image_size,
            patch_size=patch_size,
            vision_use_head=False,
        ),
        mm_tokens_per_image=mm_tokens_per_image,
        boi_token_index=ids["<start_of_image>"],
        eoi_token_index=ids["<end_of_image>"],
        image_token_index=ids["<image_soft_token>"],
        tie_word_embeddings=True,
    )


def build_gemma3(texts: Iterable[str], size: TinySize, special_tags: bool, tags: CotTags, seed: int):
    """A tiny ``Gemma3ForConditionalGeneration`` (Gemma 3 text + SigLIP vision) and its real processor classes."""
    from transformers import (
        Gemma3ForConditionalGeneration,
        Gemma3ImageProcessor,
        Gemma3Processor,
    )

    # Real Gemma ids: <pad> 0, <eos> 1, <bos> 2, <unk> 3.
    specials = [
        "<pad>",
        "<eos>",
        "<bos>",
        "<unk>",
        "<start_of_turn>",
        "<end_of_turn>",
        "<start_of_image>",
        "<end_of_image>",
        "<image_soft_token>",
    ]
    texts = [*texts, *["user\nmodel\n"] * 100]  # the template's role names
    tokenizer, ids = tokenizer_and_ids(
        texts, specials, size, special_tags, tags, pad_token="<pad>", eos_token="<eos>", bos_token="<bos>",
        unk_token="<unk>", boi_token="<start_of_image>", eoi_token="<end_of_image>", image_token="<image_soft_token>",
    )  # fmt: skip
    image_size, mm_tokens_per_image = 112, 16  # 8x8 SigLIP patches of 14 px, average-pooled 2x2
    config = _gemma3_config(size, len(tokenizer), ids, image_size, mm_tokens_per_image)
    torch.manual_seed(seed)
    model = Gemma3ForConditionalGeneration(config)
    # transformers initialises the projector to zero (a checkpoint overwrites it); from scratch, zero image
    # features would leave the vision tower without gradient, so draw it like the other weights.
    torch.nn.init.normal_(model.model.multi_modal_projector.mm_input_projection_weight, std=0.02)
    # Instruction-tuned Gemma stops at either <eos> or <end_of_turn>.
    model.generation_config.eos_token_id = [ids["<eos>"], ids["<end_of_turn>"]]
    model.generation_config.bos_token_id = ids["<bos>"]
    model.generation_config.pad_token_id = ids["<pad>"]
    image_processor = Gemma3ImageProcessor(
        size={"height": image_size, "width": image_size},
        image_mean=[0.5, 0.5, 0.5],
        image_std=[0.5, 0.5, 0.5],
        do_pan_and_scan=False,
    )
    processor = Gemma3Processor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        chat_template=GEMMA3_CHAT_TEMPLATE,
        image_seq_length=mm_tokens_per_image,
    )
    return model, processor


def _llava_next_config(
    size: TinySize, vocab_size: int, ids: dict[str, int], image_size: int, patch_size: int, pinpoints: list
):
    from transformers import CLIPVisionConfig, LlavaNextConfig, MistralConfig

    return LlavaNextConfig(
        text_config=MistralConfig(
            **text_config(size, vocab_size),
            head_dim=size.hidden_size // size.num_heads,
            sliding_window=None,
            bos_token_id=ids["<s>"],
            eos_token_id=ids["</s>"],
            pad_token_id=ids["<pad>"],
        ),
        vision_config=CLIPVisionConfig(
            hidden_size=size.vision_hidden_size,
            intermediate_size=size.vision_hidden_size * 2,
            projection_dim=size.vision_hidden_size,
            num_hidden_layers=size.vision_depth,
            num_attention_heads=2,
            image_size=image_size,
            patch_size=patch_size,
        ),
        image_token_index=ids["<image>"],
        image_grid_pinpoints=pinpoints,
        vision_feature_select_strategy="default",
        vision_feature_layer=-2,
        image_seq_length=(image_size // patch_size) ** 2,
        tie_word_embeddings=False,
    )


def build_llava_next(texts: Iterable[str], size: TinySize, special_tags: bool, tags: CotTags, seed: int):
    """A tiny ``LlavaNextForConditionalGeneration`` (Mistral text + CLIP vision) and its real processor classes."""
    from transformers import (
        LlavaNextForConditionalGeneration,
        LlavaNextImageProcessor,
        LlavaNextProcessor,
    )

    # Real Mistral ids: <unk> 0, <s> 1, </s> 2; LLaVA-NeXT adds <image> and <pad>. [INST] is plain text.
    specials = ["<unk>", "<s>", "</s>", "<image>", "<pad>"]
    texts = [*texts, *["[INST] [/INST]"] * 100]  # the template's turn markers
    tokenizer, ids = tokenizer_and_ids(
        texts, specials, size, special_tags, tags, pad_token="<pad>", eos_token="</s>", bos_token="<s>",
        unk_token="<unk>", image_token="<image>",
    )  # fmt: skip
    # CLIP at 56 px with 14 px patches: 4x4 features per view. A 112 px image picks the 112x112 pinpoint: a base
    # view plus 2x2 crops of 56 px, so 16 + 8x8 + 8 newlines = 88 image tokens (CLS dropped, "default" strategy).
    image_size, patch_size = 56, 14
    pinpoints = [[56, 56], [56, 112], [112, 56], [112, 112]]
    config = _llava_next_config(size, len(tokenizer), ids, image_size, patch_size, pinpoints)
    torch.manual_seed(seed)
    model = LlavaNextForConditionalGeneration(config)
    model.generation_config.pad_token_id = ids["<pad>"]
    image_processor = LlavaNextImageProcessor(
        size={"shortest_edge": image_size},
        crop_size={"height": image_size, "width": image_size},
        image_grid_pinpoints=pinpoints,
    )
    processor = LlavaNextProcessor(
        image_processor=image_processor,
        tokenizer=tokenizer,
        patch_size=patch_size,
        vision_feature_select_strategy="default",
        chat_template=LLAVA_NEXT_CHAT_TEMPLATE,
        image_token="<image>",
        num_additional_image_tokens=1,
    )
    return model, processor


Builder = Callable[[Iterable[str], TinySize, bool, CotTags, int], tuple]
ARCHITECTURES: dict[str, Builder] = {
    "qwen2_5_vl": build_qwen2_5_vl,
    "gemma3": build_gemma3,
    "llava_next": build_llava_next,
    "qwen2_text": build_qwen2_text,
}
TEXT_ARCHITECTURES = ("qwen2_text",)
DEFAULT_SIZE = TinySize()


def make_tiny_model(
    out_dir: str | Path,
    arch: str = "qwen2_5_vl",
    texts: Iterable[str] | None = None,
    size: TinySize = DEFAULT_SIZE,
    special_tags: bool = False,
    tags: CotTags = DEFAULT_TAGS,
    seed: int = 0,
) -> Path:
    """Build a tiny model of ``arch``, train its tokenizer on ``texts`` and save model + processor to ``out_dir``.

    ``texts`` defaults to the corpus of the synthetic task the model is for (the text task for a text-only
    ``arch``). ``special_tags`` adds the tag strings as single special tokens.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"Unknown architecture {arch!r}; choose one of {sorted(ARCHITECTURES)}.")
    if texts is None:
        from scale_sft.data.synthetic import corpus_texts, make_records
        from scale_sft.data.synthetic_text import make_text_records

        make = make_text_records if arch in TEXT_ARCHITECTURES else make_records
        texts = list(corpus_texts(make(500, seed=seed, split="tokenizer")))
    texts = [*texts, *["system\nuser\nassistant\n"] * 100]  # the chat template's role names
    model, processor = ARCHITECTURES[arch](texts, size, special_tags, tags, seed)
    out = Path(out_dir)
    model.save_pretrained(out)  # safetensors by default
    processor.save_pretrained(out)
    return out


@dataclass
class MakeTinyModelArguments:
    """``scale-sft make-tiny-model``: which tiny model to build and where (its tags: ``TagArguments``)."""

    out: str = field(metadata={"help": "Directory to save the model and processor to."})
    arch: str = field(
        default="qwen2_5_vl",
        metadata={
            "help": f"Architecture: a VLM or a text-only causal LM ({', '.join(TEXT_ARCHITECTURES)}).",
            "choices": sorted(ARCHITECTURES),
        },
    )
    seed: int = field(
        default=0, metadata={"help": "Seed of the weights and of the tokenizer's training texts."}
    )
    special_tags: bool = field(
        default=False, metadata={"help": "Make the <think>/<answer> tags single special tokens."}
    )


def make_tiny_model_command(args: MakeTinyModelArguments, tag_args: TagArguments) -> Path:
    """``scale-sft make-tiny-model``: ``make_tiny_model`` with the tokenizer trained on the synthetic corpus."""
    path = make_tiny_model(
        args.out, arch=args.arch, special_tags=args.special_tags, tags=tag_args.tags, seed=args.seed
    )
    print(f"Saved a tiny {args.arch} model and processor to {path}")
    return path
