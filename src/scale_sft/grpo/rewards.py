"""GRPO rewards as plain functions with TRL's signature ``f(completions, **dataset_columns) -> list[float]``.

``accuracy_reward`` scores exactly as ``scale-sft eval`` does: it calls the evaluation module's
``extract_answer`` and ``is_correct``, so a completion earns the reward iff evaluation would count it correct.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from scale_sft.data.format import message_text
from scale_sft.evaluation.answers import extract_answer, is_correct
from scale_sft.evaluation.scoring import find_loop
from scale_sft.tags import DEFAULT_TAGS, CotTags


def completion_text(completion) -> str:
    """The text of a completion, conversational (a list of messages) or plain."""
    if isinstance(completion, str):
        return completion
    return "".join(message_text(message) for message in completion)


def format_pattern(tags: CotTags = DEFAULT_TAGS) -> re.Pattern:
    """``<think>.*?</think>\\s*<answer>.*?</answer>``, matched in full with ``.`` matching newlines (R1-V)."""
    t = {k: re.escape(v) for k, v in tags.__dict__.items()}
    return re.compile(
        rf"{t['think_start']}.*?{t['think_end']}\s*{t['answer_start']}.*?{t['answer_end']}", re.DOTALL
    )


def make_format_reward(tags: CotTags = DEFAULT_TAGS) -> Callable[..., list[float]]:
    pattern = format_pattern(tags)

    def format_reward(completions, **kwargs) -> list[float]:
        """1 when the whole completion (surrounding whitespace aside) is a think block then an answer block."""
        return [1.0 if pattern.fullmatch(completion_text(c).strip()) else 0.0 for c in completions]

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
    def length_penalty(completion_ids, **kwargs) -> list[float]:
        """``-len / max_tokens`` (at most -1): a push towards shorter reasoning."""
        return [-min(len(ids) / max_tokens, 1.0) for ids in completion_ids]

    return length_penalty


def repetition_penalty(completion_ids, **kwargs) -> list[float]:
    """-1 for a completion caught in a loop (``find_loop``, the evaluation's loop rule), else 0."""
    return [-1.0 if find_loop(ids) else 0.0 for ids in completion_ids]


REWARDS = ("format", "accuracy", "length", "repetition")


def build_rewards(names: list[str], tags: CotTags, max_completion_length: int) -> list[Callable]:
    """The reward functions named in ``names``, in order (their weights are ``GRPOConfig.reward_weights``)."""
    factories = {
        "format": lambda: make_format_reward(tags),
        "accuracy": lambda: make_accuracy_reward(tags),
        "length": lambda: make_length_penalty(max_completion_length),
        "repetition": lambda: repetition_penalty,
    }
    unknown = set(names) - set(factories)
    if unknown or not names:
        raise ValueError(f"Unknown or no rewards {sorted(unknown)}; choose from {REWARDS}.")
    return [factories[name]() for name in names]
