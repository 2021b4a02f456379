"""GRPO rewards as plain functions with TRL's signature ``f(completions, **dataset_columns) -> list[float]``.

``format_reward`` applies the tag rules training data must pass (``scale_sft.segments.answer_start``) and asks
for non-empty reasoning and a non-empty answer (``well_formed`` says exactly what passes); ``accuracy_reward``
scores exactly as ``scale-sft eval`` does (``scale_sft.answers.extract_answer`` and ``is_correct``: the answer
is read after ``</think>`` only), so a completion earns the reward iff evaluation would count it correct.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from scale_sft.answers import extract_answer, is_correct
from scale_sft.data.format import message_text
from scale_sft.evaluation.scoring import find_loop
from scale_sft.segments import MalformedSampleError, answer_start
from scale_sft.tags import DEFAULT_TAGS, CotTags


def completion_text(completion) -> str:
    """The text of a completion, conversational (a list of messages) or plain."""
    if isinstance(completion, str):
        return completion
    return "".join(message_text(message) for message in completion)


def well_formed(text: str, tags: CotTags = DEFAULT_TAGS, answer_format: str = "tags") -> bool:
    """Whether a completion earns the format reward. Surrounding whitespace ignored, it must

    1. start with the think tag and pass ``segments.answer_start``, the check every training target passes
       (one think block, tags in order, no near-miss tag, no answer tag inside the reasoning, text after it);
    2. hold reasoning: the think block has more than whitespace, so ``<think></think>`` earns nothing;
    3. after ``</think>``, in the ``"tags"`` format: one answer block with more than whitespace in it and nothing
       but whitespace around it (``<answer></answer>`` earns nothing). In the ``"boxed"`` format (R1-style
       traces), either that, or, with no answer tag at all, any text whose last complete ``\\boxed{...}`` holds
       more than whitespace: text around the box is allowed (``The answer is $\\boxed{5}$.``), as evaluation
       reads it.
    """
    text = text.strip()
    try:
        split = answer_start(text, tags)
    except MalformedSampleError:
        return False
    if split == 0 or not text.startswith(tags.think_start):
        return False
    if not text[len(tags.think_start) : split - len(tags.think_end)].strip():
        return False
    rest = text[split:].strip()
    if answer_format == "boxed" and tags.answer_start not in rest:
        return bool((extract_answer(text, tags, answer_format) or "").strip())
    if not (rest.startswith(tags.answer_start) and rest.endswith(tags.answer_end)):
        return False
    return bool(rest[len(tags.answer_start) : len(rest) - len(tags.answer_end)].strip())


def _formats(answer_format: list[str | None] | None, n: int) -> list[str]:
    """Each record's answer format (the dataset's ``answer_format`` column; ``"tags"`` where absent)."""
    return [fmt or "tags" for fmt in (answer_format or [None] * n)]


def make_format_reward(tags: CotTags = DEFAULT_TAGS) -> Callable[..., list[float]]:
    def format_reward(completions, answer_format=None, **kwargs) -> list[float]:
        """1 when the completion is ``well_formed`` under its record's answer format, else 0."""
        formats = _formats(answer_format, len(completions))
        return [
            float(well_formed(completion_text(c), tags, fmt))
            for c, fmt in zip(completions, formats, strict=True)
        ]

    return format_reward


def make_accuracy_reward(tags: CotTags = DEFAULT_TAGS) -> Callable[..., list[float]]:
    def accuracy_reward(
        completions, answer, answer_type, choices=None, answer_format=None, **kwargs
    ) -> list[float]:
        """1 when the final answer (its record's answer format) matches the gold answer under the evaluation's
        rules."""
        choices = choices or [None] * len(completions)
        formats = _formats(answer_format, len(completions))
        return [
            float(is_correct(extract_answer(completion_text(c), tags, fmt), gold, kind, options or None))
            for c, gold, kind, options, fmt in zip(
                completions, answer, answer_type, choices, formats, strict=True
            )
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
