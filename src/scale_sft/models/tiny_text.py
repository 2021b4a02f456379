"""Tiny, randomly initialised text-only causal LMs of real architectures, built offline.

The text-only counterpart of ``scale_sft.models.tiny``: the real model class with a few layers and a byte-level
BPE tokenizer trained locally, saved with ``save_pretrained`` and loaded back by path through
``AutoModelForCausalLM`` / ``AutoTokenizer``, the code path a hub checkpoint such as Qwen/Qwen2.5-1.5B-Instruct
takes. The "processor" of a text-only model is its tokenizer.
"""

from __future__ import annotations

from collections.abc import Iterable

import torch

from scale_sft.models.chat_templates import QWEN2_5_TEXT_CHAT_TEMPLATE
from scale_sft.models.tiny_common import TinySize, text_config, tokenizer_and_ids
from scale_sft.tags import CotTags


def build_qwen2_text(texts: Iterable[str], size: TinySize, special_tags: bool, tags: CotTags, seed: int):
    """A tiny ``Qwen2ForCausalLM`` (the Qwen2.5 text architecture) and its tokenizer, as Qwen2.5-Instruct ships
    them: no BOS, ``<|im_end|>`` ends a turn (EOS), ``<|endoftext|>`` pads, and generation stops at either."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokenizer, ids = tokenizer_and_ids(
        texts, specials, size, special_tags, tags, pad_token="<|endoftext|>", eos_token="<|im_end|>"
    )
    tokenizer.chat_template = QWEN2_5_TEXT_CHAT_TEMPLATE
    config = Qwen2Config(
        **text_config(size, len(tokenizer)),
        bos_token_id=ids["<|endoftext|>"],
        eos_token_id=ids["<|im_end|>"],
        pad_token_id=ids["<|endoftext|>"],
        tie_word_embeddings=True,
    )
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    model.generation_config.eos_token_id = [ids["<|im_end|>"], ids["<|endoftext|>"]]
    model.generation_config.pad_token_id = ids["<|endoftext|>"]
    return model, tokenizer
