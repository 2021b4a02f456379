"""Helpers shared by several test files (fixtures live in conftest.py)."""

from __future__ import annotations

from collections.abc import Sequence

from scale_sft.evaluation.answers import parse_generation, read_gold
from scale_sft.evaluation.scoring import Generation, score_item
from scale_sft.tags import DEFAULT_TAGS, CotTags


def score_text(
    text: str,
    gold: str,
    answer_type: str,
    choices: Sequence[str] | None = None,
    think_tokens: int = 0,
    answer_tokens: int = 0,
    hit_max_new_tokens: bool = False,
    token_ids: Sequence[int] = (),
    tags: CotTags = DEFAULT_TAGS,
) -> dict:
    """``score_item`` on a hand-written generation, called the way the evaluation runner calls it."""
    generation = Generation(text, list(token_ids), think_tokens, answer_tokens, hit_max_new_tokens)
    record = {"answer": gold, "answer_type": answer_type, "choices": choices}
    return score_item(parse_generation(text, tags), read_gold(record), generation, tags)
