"""Batched generation for evaluation: the training prompt, left padding, KV cache, greedy by default.

Prompts are the record's conversation without its final assistant turn, rendered with the processor's chat
template and ``add_generation_prompt=True``: exactly the prefix training supervised the completion after.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from tqdm.auto import tqdm

from scale_sft.tags import DEFAULT_TAGS, CotTags


@dataclass
class Generation:
    """One sampled completion and the token counts the metrics need."""

    text: str
    token_ids: list[int]
    think_tokens: int
    answer_tokens: int
    hit_max_new_tokens: bool


def prompt_messages(messages: list[dict]) -> list[dict]:
    """The conversation up to the model's turn (a trailing assistant target is dropped)."""
    return messages[:-1] if messages and messages[-1]["role"] == "assistant" else messages


def _segment_lengths(tokenizer, text: str, tags: CotTags) -> tuple[int, int]:
    """THINK tokens (up to the end of the first ``</think>``) and ANSWER tokens (the rest) of a generation.

    Counted on the re-tokenised text with offsets, the same character rule as training.
    """
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    end = text.find(tags.think_end)
    split = end + len(tags.think_end) if end >= 0 else (len(text) if tags.think_start in text else 0)
    think = sum(1 for start, _ in encoded["offset_mapping"] if start < split)
    return think, len(encoded["input_ids"]) - think


@torch.no_grad()
def generate(
    model,
    processor,
    records: list[dict],
    batch_size: int = 8,
    max_new_tokens: int = 512,
    temperature: float = 0.0,
    num_samples: int = 1,
    tags: CotTags = DEFAULT_TAGS,
    progress: bool = True,
) -> list[list[Generation]]:
    """``num_samples`` completions per record (greedy when ``temperature == 0``), in the records' order.

    Records are batched by prompt length to keep padding small; the order of the result is the input order.
    """
    if temperature == 0 and num_samples > 1:
        raise ValueError("num_samples > 1 needs temperature > 0 (greedy decoding gives one answer).")
    tokenizer = processor.tokenizer
    model.eval()
    prompts = [
        processor.apply_chat_template(
            prompt_messages(r["messages"]), tokenize=False, add_generation_prompt=True
        )
        for r in records
    ]
    order = sorted(range(len(records)), key=lambda i: len(prompts[i]))
    eos_ids = model.generation_config.eos_token_id
    eos_ids = set(eos_ids if isinstance(eos_ids, list) else [eos_ids or tokenizer.eos_token_id])
    results: list[list[Generation]] = [[] for _ in records]
    sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
    bar = tqdm(total=len(records), desc="Generating", disable=not progress)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        images = [records[i].get("images") or [] for i in batch]
        inputs = processor(
            images=images if any(images) else None,
            text=[prompts[i] for i in batch],
            padding=True,
            padding_side="left",
            add_special_tokens=False,
            return_tensors="pt",
        ).to(model.device)
        output = model.generate(
            **inputs,
            max_new_tokens=max_new_tokens,
            num_return_sequences=num_samples,
            pad_token_id=tokenizer.pad_token_id,
            top_p=None,
            top_k=None,
            **sampling,
        )
        new_tokens = output[:, inputs["input_ids"].shape[1] :].tolist()
        for row, ids in enumerate(new_tokens):
            stop = next((k for k, t in enumerate(ids) if t in eos_ids), None)
            kept = ids if stop is None else ids[:stop]
            text = tokenizer.decode(kept, skip_special_tokens=True)
            think, answer = _segment_lengths(tokenizer, text, tags)
            results[batch[row // num_samples]].append(
                Generation(text, kept, think, answer, hit_max_new_tokens=stop is None)
            )
        bar.update(len(batch))
    bar.close()
    return results
