"""GRPO rewards as plain functions with TRL's signature ``f(completions, **dataset_columns) -> list[float]``.

``format_reward`` applies the tag rules training data must pass (``scale_sft.segments.answer_start``) and asks
for a non-empty answer; ``accuracy_reward`` scores exactly as ``scale-sft eval`` does (the evaluation module's
``extract_answer`` and ``is_correct``), so a completion earns the reward iff evaluation would count it correct.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from scale_sft.data.format import message_text
from scale_sft.evaluation.answers import extract_answer, is_correct
from scale_sft.evaluation.scoring import find_loop
from scale_sft.segments import MalformedSampleError, answer_start
from scale_sft.tags import DEFAULT_TAGS, CotTags


def completion_text(completion) -> str:
    """The text of a completion, conversational (a list of messages) or plain."""
    if isinstance(completion, str):
        return completion
    return "".join(message_text(message) for message in completion)


def well_formed(text: str, tags: CotTags = DEFAULT_TAGS) -> bool:
    """A think block then a non-empty answer block, with nothing but whitespace around and between them.

    The think/answer tags must pass ``answer_start``, the check every training target passes (one think block,
    tags in order, no answer tag inside the reasoning, ...); on top of it the think block is required and the
    answer block must hold more than whitespace, so ``<answer></answer>`` earns nothing.
    """
    text = text.strip()
    try:
        split = answer_start(text, tags)
    except MalformedSampleError:
        return False
    rest = text[split:].strip()
    if split == 0 or not text.startswith(tags.think_start):
        return False
    if not (rest.startswith(tags.answer_start) and rest.endswith(tags.answer_end)):
        return False
    return bool(rest[len(tags.answer_start) : len(rest) - len(tags.answer_end)].strip())


def make_format_reward(tags: CotTags = DEFAULT_TAGS) -> Callable[..., list[float]]:
    def format_reward(completions, **kwargs) -> list[float]:
        """1 when the completion is ``well_formed``, else 0."""
        return [float(well_formed(completion_text(c), tags)) for c in completions]

    return format_reward


def make_accuracy_reward(tags: CotTags = DEFAULT_TAGS) -> Callable[..., list[float]]:
    def accuracy_reward(completions, answer, answer_type, choices=None, **kwargs) -> list[float]:
        """1 when the last answer block matches the gold answer under the evaluation's rules."""
        choices = choices or [None] * len(completions)
        return [
            float(is_correct(extract_answer(completion_text(c), tags), gold, kind, options or None))
            for c, gold, kind, options in zip(completions, answer, answer_type, choices, strict=True)
        ]

    return accuracy_reward


def make_length_penalty(max_tokens: int) -> Callable[..., list[float]]:
    """``-len / max_tokens`` per completion, at most -1; ``max_tokens`` must be a positive integer."""
    if isinstance(max_tokens, bool) or not isinstance(max_tokens, int) or max_tokens < 1:
        raise ValueError(
            f"The length penalty needs max_tokens >= 1 (the completion length it divides by), got {max_tokens!r}."
        )

    def length_penalty(completion_ids, **kwargs) -> list[float]:
        """``-len / max_tokens`` (at most -1): a push towards shorter reasoning."""
        return [-min(len(ids) / max_tokens, 1.0) for ids in completion_ids]

    return length_penalty


def repetition_penalty(completion_ids, **kwargs) -> list[float]:
    """-1 for a completion caught in a loop (``find_loop``, the evaluation's loop rule), else 0."""
    return [-1.0 if find_loop(ids) else 0.0 for ids in completion_ids]


REWARDS = ("format", "accuracy", "length", "repetition")


def build_rewards(names: list[str], tags: CotTags, max_completion_length: int) -> list[Callable]:
    """The reward functions named in ``names``, in order (their weights are ``GRPOConfig.reward_weights``).

    Raises ``ValueError`` for no names, an unknown or repeated name, tags that are not a ``CotTags``, or a
    ``max_completion_length`` the length penalty cannot divide by.
    """
    factories = {
        "format": lambda: make_format_reward(tags),
        "accuracy": lambda: make_accuracy_reward(tags),
        "length": lambda: make_length_penalty(max_completion_length),
        "repetition": lambda: repetition_penalty,
    }
    unknown = set(names) - set(factories)
    if unknown or not names:
        raise ValueError(f"Unknown or no rewards {sorted(unknown)}; choose from {REWARDS}.")
    repeated = sorted(name for name, n in Counter(names).items() if n > 1)
    if repeated:
        raise ValueError(
            f"Rewards listed more than once: {repeated} (weigh one with --reward_weights instead)."
        )
    if not isinstance(tags, CotTags):
        raise ValueError(f"Rewards need the tags as a CotTags, got {tags!r}.")
    return [factories[name]() for name in names]
