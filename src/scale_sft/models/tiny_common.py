"""What every tiny-model builder shares: the model size and a byte-level BPE tokenizer trained locally.

Kept apart from ``tiny`` (the vision-language builders) and ``tiny_text`` (the text-only ones) so both can use it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from tokenizers import Regex, Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import PreTrainedTokenizerFast

from scale_sft.tags import CotTags

# Qwen2's pre-tokenisation regex: byte-level BPE where a tag such as `</think>` splits into several
# pieces that can merge with neighbouring characters (`>\n`), the case segment labelling must survive.
QWEN_SPLIT = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"


@dataclass(frozen=True)
class TinySize:
    """Model size; the defaults (about 1.5M parameters) train on 2 CPU cores in minutes."""

    hidden_size: int = 128
    num_layers: int = 4
    num_heads: int = 4
    num_kv_heads: int = 2
    intermediate_size: int = 384
    vision_hidden_size: int = 64
    vision_depth: int = 2
    vocab_size: int = 1024


def train_bpe_tokenizer(
    texts: Iterable[str],
    special_tokens: list[str],
    vocab_size: int,
    pad_token: str,
    eos_token: str,
    **named_tokens: str,
) -> PreTrainedTokenizerFast:
    """Train a byte-level BPE tokenizer (Qwen2-style pre-tokenisation) on ``texts``.

    ``named_tokens`` (``bos_token="<s>"``, or model-specific names such as ``image_token``) become attributes
    of the tokenizer (``tokenizer.image_token`` / ``tokenizer.image_token_id``) that survive ``save_pretrained``.
    """
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence(
        [
            pre_tokenizers.Split(Regex(QWEN_SPLIT), behavior="isolated"),
            pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
        ]
    )
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tokenizer.train_from_iterator(texts, trainer=trainer)
    named = {"pad_token": pad_token, "eos_token": eos_token, **named_tokens}
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        additional_special_tokens=[t for t in special_tokens if t not in named.values()],
        **named,
    )


def encode_with_bos(tokenizer: PreTrainedTokenizerFast, bos: str) -> None:
    """Put ``bos`` first whenever the tokenizer is asked for special tokens, as Mistral's and Gemma's do."""
    tokenizer.backend_tokenizer.post_processor = processors.TemplateProcessing(
        single=f"{bos} $A",
        pair=f"{bos} $A {bos} $B",
        special_tokens=[(bos, tokenizer.convert_tokens_to_ids(bos))],
    )


def add_tag_tokens(tokenizer: PreTrainedTokenizerFast, tags: CotTags) -> None:
    """Make the four tag strings single special tokens (off by default: real tokenizers split them)."""
    tokenizer.add_special_tokens(
        {"additional_special_tokens": [tags.think_start, tags.think_end, tags.answer_start, tags.answer_end]},
        replace_extra_special_tokens=False,
    )


def tokenizer_and_ids(
    texts: Iterable[str], specials: list[str], size: TinySize, special_tags: bool, tags: CotTags, **named: str
) -> tuple[PreTrainedTokenizerFast, dict[str, int]]:
    """A tokenizer trained on ``texts`` with the family's special tokens, and those tokens' ids."""
    tokenizer = train_bpe_tokenizer(texts, specials, size.vocab_size, **named)
    if named.get("bos_token"):
        encode_with_bos(tokenizer, named["bos_token"])  # as Mistral's and Gemma's tokenizers do
    if special_tags:
        add_tag_tokens(tokenizer, tags)
    return tokenizer, {t: tokenizer.convert_tokens_to_ids(t) for t in specials}


def text_config(size: TinySize, vocab_size: int) -> dict:
    """The language-model sizes every family shares."""
    return {
        "vocab_size": vocab_size,
        "hidden_size": size.hidden_size,
        "intermediate_size": size.intermediate_size,
        "num_hidden_layers": size.num_layers,
        "num_attention_heads": size.num_heads,
        "num_key_value_heads": size.num_kv_heads,
        "max_position_embeddings": 2048,
    }
