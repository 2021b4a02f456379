"""Which tokens are reasoning (THINK), which are answer (ANSWER), and which get no loss.

Boundaries (our reading of the paper, see the README): the assistant completion is split at the end of the
``</think>`` tag. Everything up to and including ``</think>`` is THINK; everything after it (``<answer>``, the
answer, ``</answer>``, the template's end-of-turn tokens) is ANSWER. Tags are supervised. Prompt, image and
padding tokens get no loss. A completion without think tags is a direct answer: all ANSWER. A tag written in
another case or with spaces (``<THINK>``, ``< think >``, ``</Answer>``) is a near miss, never plain text: read
as text, it would silently turn a reasoning trace into a direct answer.

Labelling works on characters, not token ids, so it stays exact when a tag is several BPE tokens that merge
with neighbouring characters (``>\\n``), when the prompt itself contains ``<think>``, and under any padding.
Spans are measured from the *end* of the rendered text: processors expand image placeholders inside the
prompt, which shifts every character before the completion but none inside it. A token belongs to the
segment that holds its first character.

Generated text is measured, not checked: ``generation_split`` splits a model's output by a tolerant rule so that
evaluation can count THINK and ANSWER tokens of any output, well-formed or not.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import torch

from scale_sft.tags import DEFAULT_TAGS, CotTags

IGNORE, THINK, ANSWER = 0, 1, 2


class MalformedSampleError(ValueError):
    """A completion whose think/answer tags cannot be split by the rules above."""


NEAR_MISS_TAG = "tag in another case or spacing"


@lru_cache(maxsize=32)
def _loose_tag_re(tag: str) -> re.Pattern[str]:
    """``tag`` in any case, with any whitespace between its word and symbol parts (``< / Think >``)."""
    return re.compile(r"\s*".join(re.escape(part) for part in re.findall(r"\w+|\S", tag)), re.IGNORECASE)


def near_miss_tag(text: str, tags: CotTags = DEFAULT_TAGS) -> str | None:
    """The first spelling in ``text`` of one of the tags that differs from it only by case or whitespace."""
    for tag in tags.as_list():
        miss = next((m.group() for m in _loose_tag_re(tag).finditer(text) if m.group() != tag), None)
        if miss is not None:
            return miss
    return None


def answer_start(completion: str, tags: CotTags = DEFAULT_TAGS) -> int:
    """Character offset in ``completion`` where ANSWER starts (0 for a direct answer).

    Raises ``MalformedSampleError`` for: a near-miss tag (``NEAR_MISS_TAG``), only one of the think tags,
    several think blocks, tags out of order, nothing after ``</think>``, or unbalanced / out-of-order answer
    tags.
    """
    if near_miss_tag(completion, tags) is not None:
        raise MalformedSampleError(NEAR_MISS_TAG)
    n_open, n_close = completion.count(tags.think_start), completion.count(tags.think_end)
    if n_open == 0 and n_close == 0:
        split = 0
    elif n_open != 1 or n_close != 1:
        kind = "only one think tag" if (n_open == 0) != (n_close == 0) else "several think blocks"
        raise MalformedSampleError(kind)
    else:
        start, end = completion.find(tags.think_start), completion.find(tags.think_end)
        if end < start:
            raise MalformedSampleError("think tags out of order")
        split = end + len(tags.think_end)
        if not completion[split:].strip():
            raise MalformedSampleError("nothing after the think block")
    rest = completion[split:]
    a_open, a_close = rest.count(tags.answer_start), rest.count(tags.answer_end)
    if (a_open or a_close) and not (
        a_open == 1 and a_close == 1 and rest.find(tags.answer_start) < rest.find(tags.answer_end)
    ):
        raise MalformedSampleError("unbalanced or out-of-order answer tags")
    if tags.answer_start in completion[:split] or tags.answer_end in completion[:split]:
        raise MalformedSampleError("answer tag inside the think block")
    return split


def generation_split(text: str, tags: CotTags = DEFAULT_TAGS) -> int:
    """Character offset in a *generated* text where ANSWER starts; never raises.

    Training targets must pass ``answer_start``; a model's output is measured as it is, with the same boundary
    where it has one: ANSWER starts at the end of the first ``</think>``. Without any ``</think>``, a text that
    opened ``<think>`` is all THINK (the model was still reasoning when it stopped) and a text without think tags
    is all ANSWER (0), as a direct answer is in training.
    """
    end = text.find(tags.think_end)
    if end >= 0:
        return end + len(tags.think_end)
    return len(text) if tags.think_start in text else 0


@dataclass(frozen=True)
class SampleSpans:
    """Where the completion and its ANSWER start, as character distances from the end of the rendered text."""

    completion_from_end: int
    answer_from_end: int


def sample_spans(text: str, completion_start: int, tags: CotTags = DEFAULT_TAGS) -> SampleSpans:
    """Spans of a rendered sample whose supervised completion starts at ``completion_start``.

    Everything after the completion start (including the template's end-of-turn suffix) is supervised.
    """
    split = completion_start + answer_start(text[completion_start:], tags)
    return SampleSpans(completion_from_end=len(text) - completion_start, answer_from_end=len(text) - split)


def segment_ids_from_offsets(
    offset_mapping: torch.Tensor, attention_mask: torch.Tensor, spans: Sequence[SampleSpans]
) -> torch.Tensor:
    """``segment_ids`` (0 = no loss, 1 = THINK, 2 = ANSWER) aligned with ``input_ids``.

    ``offset_mapping`` (batch, seq, 2) holds each token's character span in the processor's (expanded) text,
    as returned with ``return_offsets_mapping=True``; padding is read off ``attention_mask``.
    """
    starts, ends = offset_mapping[..., 0], offset_mapping[..., 1]
    real = attention_mask.bool()
    text_len = torch.where(real, ends, torch.zeros_like(ends)).amax(dim=1, keepdim=True)
    from_end = text_len - starts  # distance of each token's first character from the end of its text
    completion = torch.tensor([s.completion_from_end for s in spans], device=starts.device).unsqueeze(1)
    answer = torch.tensor([s.answer_from_end for s in spans], device=starts.device).unsqueeze(1)
    segment_ids = torch.full_like(starts, IGNORE)
    segment_ids[real & (from_end <= completion)] = THINK
    segment_ids[real & (from_end <= answer)] = ANSWER
    return segment_ids
