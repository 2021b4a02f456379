"""GRPO data as users have it (R1-V, Vision-R1's RL data) to records that ``scale-sft grpo`` takes.

- **R1-V** (``r1v``): ``image`` (one), ``problem`` (the question), ``solution`` (the answer, optionally inside
  ``<answer>...</answer>``, as in ``<answer> 3 </answer>``).
- **Vision-R1 RL** (``vision_r1_rl``): ``images`` (a list, or one ``image``), ``problem``, ``answer``.

The question is cleaned as for Vision-R1 cold-start (``<image>`` placeholders removed, a trailing
answer-format instruction removed and counted), the gold answer as a source's final answer
(``source_answer``, under the tag rules: answer tags, ``\\boxed{}``, ``Final Answer:`` removed; a near-miss tag
such as ``<Answer>`` is a counted skip) and typed by ``classify_answer`` (lettered options in the problem,
inline ones included, make it multiple choice). GRPO reads only the prompt and the gold ``answer`` /
``answer_type`` / ``choices``, but ``prepare_dataset`` (shared by ``train`` and ``grpo``) requires an
assistant message: each record gets the direct answer ``<answer>X</answer>`` as its target, so the same
records also pass ``scale-sft train`` (where they teach direct answers) and ``scale-sft eval``.
"""

from __future__ import annotations

from collections.abc import Iterable

from scale_sft.data.converters.answers import classify_answer, clean_answer, lettered_options, source_answer
from scale_sft.data.converters.common import (
    ImageFiles,
    Unconvertible,
    direct_completion,
    make_record,
    run,
    text_field,
)
from scale_sft.data.converters.vision_r1 import PLACEHOLDER, strip_answer_instruction, strip_placeholders
from scale_sft.data.loading import DataReport
from scale_sft.tags import DEFAULT_TAGS, CotTags

ANSWER_FIELDS = {"r1v": "solution", "vision_r1_rl": "answer"}


def _gold(value) -> str:
    """The gold answer of a source record (read with the default tags, as the sources write them)."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise Unconvertible("answer is not text")
    return clean_answer(source_answer(value))  # the tag rules apply: "<Answer>3</Answer>" is a near miss


def _convert_rl(
    source: str, records: Iterable, tags: CotTags, files: ImageFiles
) -> tuple[list[dict], DataReport]:
    def convert_one(record: dict, index: int) -> dict:
        values = record.get("images", record.get("image"))
        values = values if isinstance(values, list) else [] if values is None else [values]
        images = [files.resolve(value) for value in values]
        if not images or any(image is None for image in images):
            raise Unconvertible("no image")
        problem = text_field(record, "problem")
        if problem.count(PLACEHOLDER) not in (0, len(images)):
            raise Unconvertible("image placeholder count mismatch")
        question, changed = strip_answer_instruction(strip_placeholders(problem))
        if not question:
            raise Unconvertible("empty question")
        answer = _gold(record.get(ANSWER_FIELDS[source]))
        if not answer:
            raise Unconvertible("empty answer")
        options = lettered_options(question)
        answer, answer_type = classify_answer(answer, options)
        id_ = str(record.get("id") or f"{source}-{index:06d}")
        out = make_record(
            id_, question, direct_completion(answer, tags), images, answer, answer_type, options, source,
            tags=tags,
        )  # fmt: skip
        return out | {"changed": ["answer instruction removed"] if changed else []}

    return run(source, records, convert_one, tags)


def convert_r1v(
    records: Iterable, image_root=None, tags: CotTags = DEFAULT_TAGS, images: ImageFiles | None = None
) -> tuple[list[dict], DataReport]:
    """R1-V records (``image``, ``problem``, ``solution``) to GRPO-ready records (module docstring)."""
    return _convert_rl("r1v", records, tags, images or ImageFiles.of(None, image_root))


def convert_vision_r1_rl(
    records: Iterable, image_root=None, tags: CotTags = DEFAULT_TAGS, images: ImageFiles | None = None
) -> tuple[list[dict], DataReport]:
    """Vision-R1 RL records (``images``, ``problem``, ``answer``) to GRPO-ready records (module docstring)."""
    return _convert_rl("vision_r1_rl", records, tags, images or ImageFiles.of(None, image_root))
