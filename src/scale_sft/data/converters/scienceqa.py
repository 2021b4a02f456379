"""ScienceQA (image split, the LMMs-Eval ``scienceqa_img`` schema) to direct-answer records.

The prompt is ``Context: {hint}\\n{question}\\nA. ...`` (the Context line only when the hint is non-empty), the
gold letter ``chr(65 + answer)``. These records have no reasoning traces, so the target is the direct answer
``<answer>B</answer>``: useful as an evaluation set (the prompt is exactly the training prompt, the target the
gold answer); trained on, it teaches direct answers. Counted skips: no image, ``choices`` that is not a list of
2 to 10 texts (a string such as ``"ab"`` is not two options), an answer index out of range, a question or hint
that is not text.
"""

from __future__ import annotations

import numbers
from collections.abc import Iterable

from scale_sft.data.converters.common import (
    ImageFiles,
    Unconvertible,
    direct_completion,
    make_record,
    run,
    text_field,
)
from scale_sft.data.format import LETTERS, format_options
from scale_sft.data.loading import DataReport
from scale_sft.tags import DEFAULT_TAGS, CotTags


def scienceqa_prompt(question: str, choices: list[str], hint: str | None) -> str:
    """LMMs-Eval ``scienceqa_img``: ``Context: {hint}`` (only when non-empty), the question, lettered choices."""
    context = f"Context: {hint.strip()}\n" if hint and hint.strip() else ""
    return format_options(f"{context}{question.strip()}", choices)


def choice_list(record: dict) -> list[str]:
    """``record["choices"]`` as 2 to 10 option texts; anything else is a counted skip."""
    choices = record.get("choices")
    if not isinstance(choices, list) or not all(isinstance(c, str | int | float) for c in choices):
        raise Unconvertible("choices is not a list of texts")
    if not 2 <= len(choices) <= len(LETTERS):
        raise Unconvertible("fewer than 2 or more than 10 choices")
    return [str(c) for c in choices]


def convert_scienceqa(
    records: Iterable,
    image_root=None,
    split: str = "train",
    tags: CotTags = DEFAULT_TAGS,
    images: ImageFiles | None = None,
) -> tuple[list[dict], DataReport]:
    """ScienceQA (image split) records to direct-answer records (rules in the module docstring)."""
    files = images or ImageFiles.of(None, image_root)

    def convert_one(record: dict, index: int) -> dict:
        image = files.resolve(record.get("image"))
        if image is None:
            raise Unconvertible("no image")
        choices = choice_list(record)
        gold = record.get("answer")
        if isinstance(gold, str) and gold.strip().isdigit():
            gold = int(gold)
        if not isinstance(gold, numbers.Integral) or isinstance(gold, bool) or not 0 <= gold < len(choices):
            raise Unconvertible("answer index out of range")
        letter = LETTERS[int(gold)]
        question = scienceqa_prompt(text_field(record, "question"), choices, text_field(record, "hint"))
        id_ = str(record.get("id") or f"scienceqa-{split}-{index:05d}")
        category = str(record.get("subject") or "")
        return make_record(
            id_, question, direct_completion(letter, tags), [image], letter, "multiple_choice", choices,
            "scienceqa", category, tags,
        )  # fmt: skip

    return run("scienceqa", records, convert_one, tags)
