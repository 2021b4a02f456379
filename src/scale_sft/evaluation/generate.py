"""Batched generation for evaluation: the training prompt, left padding, KV cache, greedy by default.

Prompts are rendered by ``scale_sft.data.format.render_prompt``, the renderer training and GRPO use: the
record's conversation without its final assistant turn, with the generation prompt added, exactly the prefix
training supervised the completion after. THINK and ANSWER tokens of each output are counted with
``scale_sft.segments.generation_split``.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch
from tqdm.auto import tqdm

from scale_sft.data.format import render_prompt
from scale_sft.data.images import to_rgb
from scale_sft.evaluation.scoring import Generation
from scale_sft.segments import generation_split
from scale_sft.tags import DEFAULT_TAGS, CotTags


def check_generation_args(batch_size: int, max_new_tokens: int, temperature: float, num_samples: int) -> None:
    """Raise ``ValueError`` for settings generation cannot run with, before any model is loaded."""
    problems = [
        f"{name} must be a positive integer, got {value!r}"
        for name, value in (
            ("batch_size", batch_size),
            ("max_new_tokens", max_new_tokens),
            ("num_samples", num_samples),
        )
        if isinstance(value, bool) or not isinstance(value, int) or value < 1
    ]
    if not temperature >= 0:  # also rejects NaN
        problems.append(f"temperature must be >= 0 (0 = greedy decoding), got {temperature!r}")
    elif temperature == 0 and num_samples > 1:
        problems.append("num_samples > 1 needs temperature > 0 (greedy decoding gives one answer)")
    if problems:
        raise ValueError("; ".join(problems) + ".")


def segment_lengths(tokenizer, text: str, tags: CotTags = DEFAULT_TAGS) -> tuple[int, int]:
    """THINK and ANSWER tokens of a generation, split by ``generation_split``.

    Counted on the re-tokenised text with offsets: a token is THINK when its first character is, as in training.
    """
    split = generation_split(text, tags)
    encoded = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    think = sum(1 for start, _ in encoded["offset_mapping"] if start < split)
    return think, len(encoded["input_ids"]) - think


@torch.no_grad()
def generate_batches(
    model,
    processor,
    records: list[dict],
    batch_size: int = 8,
    max_new_tokens: int = 512,
    temperature: float = 0.0,
    num_samples: int = 1,
    tags: CotTags = DEFAULT_TAGS,
    progress: bool = True,
) -> Iterator[tuple[int, list[Generation]]]:
    """``(record index, num_samples completions)`` for every record, yielded batch by batch as they finish.

    Records are batched by prompt length to keep padding small, so they come in that order, not the input's;
    greedy decoding when ``temperature == 0``.
    """
    check_generation_args(batch_size, max_new_tokens, temperature, num_samples)
    tokenizer = getattr(processor, "tokenizer", processor)  # a text-only model's processor is its tokenizer
    model.eval()
    prompts = [render_prompt(processor, r["messages"]) for r in records]
    order = sorted(range(len(records)), key=lambda i: len(prompts[i]))
    eos_ids = model.generation_config.eos_token_id
    eos_ids = set(eos_ids if isinstance(eos_ids, list) else [eos_ids or tokenizer.eos_token_id])
    sampling = {"do_sample": True, "temperature": temperature} if temperature > 0 else {"do_sample": False}
    bar = tqdm(total=len(records), desc="Generating", disable=not progress)
    for start in range(0, len(order), batch_size):
        batch = order[start : start + batch_size]
        # as 8-bit RGB, the way training saw them (a 16-bit image scaled, not clipped white)
        images = [[to_rgb(image) for image in records[i].get("images") or []] for i in batch]
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
        samples: list[list[Generation]] = [[] for _ in batch]
        for row, ids in enumerate(output[:, inputs["input_ids"].shape[1] :].tolist()):
            stop = next((k for k, t in enumerate(ids) if t in eos_ids), None)
            kept = ids if stop is None else ids[:stop]
            text = tokenizer.decode(kept, skip_special_tokens=True)
            think, answer = segment_lengths(tokenizer, text, tags)
            samples[row // num_samples].append(
                Generation(text, kept, think, answer, hit_max_new_tokens=stop is None)
            )
        bar.update(len(batch))
        yield from zip(batch, samples, strict=True)
    bar.close()


def generate(model, processor, records: list[dict], *args, **kwargs) -> list[list[Generation]]:
    """Every record's completions, in the records' order (``generate_batches``' arguments)."""
    results: list[list[Generation]] = [[] for _ in records]
    for index, samples in generate_batches(model, processor, records, *args, **kwargs):
        results[index] = samples
    return results
