"""IconQA to direct-answer records, from the LMMs-Eval ``iconqa`` schema or the original release.

Two layouts are read (splits ``train``, ``val``, ``test``):

- **LMMs-Eval** (``lmms-lab/ICON-QA``, or a local copy in its schema): ``question_id``, ``question``,
  ``choices`` (comma-separated), ``answer`` (text), ``ques_type``, ``query_image`` and the stored choice images
  ``choice_image_0``, ``choice_image_1``.
- **The original release** (``problems.json``, an object keyed by problem id; read with ``--input
  iconqa_data/problems.json``, its records filtered by their ``split`` field): ``choices`` is a list,
  ``answer`` the index of the right choice (text for ``fill_in_blank``), images under
  ``iconqa/{split}/{ques_type}/{id}/`` beside ``problems.json`` (``image.png``, and the choice files named in
  ``choices``).

Rules per ``ques_type``:

- ``choose_txt``: the choices become lettered options, the gold letter is the answer text's index.
- ``choose_img``: the query image, then one image per choice, options ``A. image 1``, ``B. image 2``, ...; the
  gold letter is the choice whose file name matches the answer. ``choices`` may name more images than the
  LMMs-Eval set stores (it stores two): choice ``k`` is the stored ``choice_image_k`` or, in a local copy, the
  file of that name beside the query image. An item is kept only when *every* named choice is available;
  otherwise it is skipped and counted (``choice image not available``), so scored ``choose_img`` items are
  never silently reduced to two options. Without ``choices`` the stored images are the choices.
- ``fill_in_blank``: a free answer, ``numeric`` if it is a number, else ``free_text``
  (``scale_sft.data.converters.answers.classify_answer``).

Targets are direct answers (``<answer>B</answer>``), as for ScienceQA.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path

from scale_sft.data.converters.answers import classify_answer
from scale_sft.data.converters.common import (
    ImageFiles,
    Unconvertible,
    direct_completion,
    image_name,
    make_record,
    run,
    text_field,
)
from scale_sft.data.format import LETTERS, format_options
from scale_sft.data.loading import DataReport
from scale_sft.tags import DEFAULT_TAGS, CotTags

QUES_TYPES = ("choose_txt", "choose_img", "fill_in_blank")


def _names(record: dict) -> list[str]:
    choices = record.get("choices")
    if choices is None:
        return []
    if isinstance(choices, str):
        return [c.strip() for c in choices.split(",") if c.strip()]
    if isinstance(choices, list) and all(isinstance(c, str | int | float) for c in choices):
        return [str(c).strip() for c in choices]
    raise Unconvertible("choices is not a list of texts")


def _lmms_eval_layout(record: dict, names: list[str]) -> tuple[object, list]:
    """``(query image, choice images)``: choice ``k`` is ``choice_image_k`` or the file beside the query image."""
    query = record["query_image"]
    stored = {int(k.rsplit("_", 1)[1]): v for k, v in record.items() if re.fullmatch(r"choice_image_\d+", k)}
    stored = {k: v for k, v in stored.items() if v is not None}
    if not names:
        return query, [stored[k] for k in sorted(stored)]
    folder = Path(query).parent if isinstance(query, str) else None
    return query, [stored.get(k, str(folder / name) if folder else None) for k, name in enumerate(names)]


def _original_layout(record: dict, names: list[str], split: str) -> tuple[str, list, object]:
    """``(query image, choice images, answer text)`` of a ``problems.json`` record (answers are indices)."""
    folder = f"iconqa/{record.get('split', split)}/{record['ques_type']}/{record.get('id')}"
    answer = record.get("answer")
    if record["ques_type"] != "fill_in_blank":
        if not isinstance(answer, int) or isinstance(answer, bool) or not 0 <= answer < len(names):
            raise Unconvertible("answer index out of range")
        answer = names[answer]
    return f"{folder}/image.png", [f"{folder}/{name}" for name in names], answer


def _choice_images(files: ImageFiles, values: list) -> list:
    if any(value is None for value in values):
        raise Unconvertible("choice image not available")
    try:
        return [files.resolve(value) for value in values]
    except Unconvertible as err:
        if str(err) == "missing image":
            raise Unconvertible("choice image not available") from None
        raise


def _choose(gold: str, names: list[str], values: list) -> int:
    """The index of the gold choice (names of choices, or the file names of the choice images)."""
    labels = names or [image_name(value) for value in values]
    if not 2 <= len(labels) <= len(LETTERS):
        raise Unconvertible("fewer than 2 or more than 10 choices")
    matches = [i for i, label in enumerate(labels) if label == gold]
    if not matches:
        matches = [i for i, label in enumerate(labels) if label and label.casefold() == gold.casefold()]
    if not matches and names:  # a choice image named by its file name in the answer
        matches = [i for i, label in enumerate(labels) if label == Path(gold).name]
    if len(matches) != 1:
        raise Unconvertible("gold answer not among the choices")
    return matches[0]


def convert_iconqa(
    records: Iterable,
    image_root=None,
    split: str = "test",
    tags: CotTags = DEFAULT_TAGS,
    images: ImageFiles | None = None,
) -> tuple[list[dict], DataReport]:
    """IconQA records (either layout) to direct-answer records (rules in the module docstring)."""
    files = images or ImageFiles.of(None, image_root)

    def convert_one(record: dict, index: int) -> dict:
        ques_type = record.get("ques_type")
        if ques_type not in QUES_TYPES:
            raise Unconvertible("unknown ques_type")
        question = text_field(record, "question").strip()
        names = _names(record)
        if "query_image" in record:
            (query_value, values), gold = _lmms_eval_layout(record, names), record.get("answer")
        else:
            query_value, values, gold = _original_layout(record, names, split)
        gold = "" if gold is None else str(gold).strip()
        query = files.resolve(query_value)
        if query is None:
            raise Unconvertible("no image")
        if not gold:
            raise Unconvertible("empty answer")
        images, choices = [query], []
        if ques_type == "fill_in_blank":
            answer, answer_type = classify_answer(gold, [])
        elif ques_type == "choose_txt":
            answer, answer_type, choices = LETTERS[_choose(gold, names, [])], "multiple_choice", names
        else:
            answer, answer_type = LETTERS[_choose(gold, names, values)], "multiple_choice"
            images += _choice_images(files, values)
            choices = [f"image {i + 1}" for i in range(len(values))]
        qid = record.get("question_id", record.get("id"))
        id_ = f"iconqa-{qid}" if qid is not None else f"iconqa-{index:05d}"
        return make_record(
            id_, format_options(question, choices), direct_completion(answer, tags), images, answer,
            answer_type, choices, "iconqa", ques_type, tags,
        )  # fmt: skip

    return run("iconqa", records, convert_one, tags)
