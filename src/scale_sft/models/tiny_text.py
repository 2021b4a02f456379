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
from scale_sft.models.tiny_common import TinySize, add_tag_tokens, train_bpe_tokenizer
from scale_sft.tags import CotTags


def build_qwen2_text(texts: Iterable[str], size: TinySize, special_tags: bool, tags: CotTags, seed: int):
    """A tiny ``Qwen2ForCausalLM`` (the Qwen2.5 text architecture) and its tokenizer, as Qwen2.5-Instruct ships
    them: no BOS, ``<|im_end|>`` ends a turn (EOS), ``<|endoftext|>`` pads, and generation stops at either."""
    from transformers import Qwen2Config, Qwen2ForCausalLM

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokenizer = train_bpe_tokenizer(
        texts, specials, size.vocab_size, pad_token="<|endoftext|>", eos_token="<|im_end|>"
    )
    tokenizer.chat_template = QWEN2_5_TEXT_CHAT_TEMPLATE
    if special_tags:
        add_tag_tokens(tokenizer, tags)
    ids = {t: tokenizer.convert_tokens_to_ids(t) for t in specials}
    config = Qwen2Config(
        vocab_size=len(tokenizer),
        hidden_size=size.hidden_size,
        intermediate_size=size.intermediate_size,
        num_hidden_layers=size.num_layers,
        num_attention_heads=size.num_heads,
        num_key_value_heads=size.num_kv_heads,
        max_position_embeddings=2048,
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
