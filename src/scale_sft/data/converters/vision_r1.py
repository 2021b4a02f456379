"""Vision-R1 cold-start (ShareGPT JSON) to the project's ``<think>``/``<answer>`` records.

Vision-R1-cold is published as two files with two layouts, both read here: the LLaVA-CoT part
(``conversations`` with ``from: human|gpt``, text in ``value``, one ``image``) and the Mulberry part
(``conversations`` with ``role: user|assistant``, text in ``value`` or ``content``, an ``images`` list), each
with its images in a folder beside the JSON. ``messages`` is accepted for ``conversations``; ``system`` turns
are ignored.

- **Images.** ``<image>`` placeholders are removed from the text (a line holding only placeholders is dropped,
  an inline one is cut out); their count over all user turns must be 0 or the number of images. Each user turn
  gets one image part per placeholder it held (all images go to the first user turn when there are none),
  before its text.
- **Rounds.** The turns must alternate user/assistant, starting with a user turn and ending with an assistant
  turn. A multi-round record keeps the whole conversation and only the final reply is supervised: the earlier
  turns are the prompt's context (their text as published), the final question gets the format instruction.
- **The source's own answer-format instruction** (a trailing sentence such as ``Return the final answer as
  ...`` or ``Answer with the option's letter from the given choices directly.``, which contradicts the
  instruction the converter appends) is removed from every user turn and counted in the report under
  ``changed`` (``answer instruction removed``).
- **The answer** is read from the final reply by ``scale_sft.data.converters.answers`` (one think block, the
  answer after it; Vision-R1-cold's ``<answer> Final Answer:B </answer>`` gives ``B``, multiple choice when
  the question lists options, inline ones included). The target is
  ``<think>\\n{reasoning}\\n</think>\\n<answer>{answer}</answer>`` with the normalised answer, or, with
  ``keep_source_answer``, the source's answer text as written (``<answer>Final Answer:B</answer>``, Vision-R1's
  own output format); the stored ``answer`` is normalised either way.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from PIL import Image

from scale_sft.data.converters.answers import (
    classify_answer,
    clean_answer,
    lettered_options,
    normalise_response,
)
from scale_sft.data.converters.common import (
    ImageFiles,
    Unconvertible,
    direct_completion,
    make_record,
    run,
)
from scale_sft.data.format import cot_completion
from scale_sft.data.loading import DataReport
from scale_sft.tags import DEFAULT_TAGS, CotTags

PLACEHOLDER = "<image>"
_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}
# A sentence telling how to write the answer: "Answer ..." (not a question), or "Return/Give/Provide/... ..."
# that speaks of the answer, an option letter or \boxed.
_ANSWER_INSTRUCTION_RE = re.compile(
    r"^(?:please\s+)?(?:answer\b|(?:return|give|provide|output|put|write|respond|end|present)\b"
    r"(?=.*(?:\banswer\b|\bletter\b|\\boxed)))[^?]*$",
    re.IGNORECASE,
)


def strip_placeholders(text: str) -> str:
    lines = []
    for line in text.splitlines():
        if PLACEHOLDER in line and not line.replace(PLACEHOLDER, "").strip():
            continue
        lines.append(re.sub(r" {2,}", " ", line.replace(PLACEHOLDER, "")).rstrip())
    return "\n".join(lines).strip()


def _last_sentence_start(text: str) -> int:
    """Where the last sentence of ``text`` starts: after its last newline or sentence end (``.?!`` + space)."""
    return max([0] + [m.end() for m in re.finditer(r"\n|(?<=[.?!])[ \t]+(?=\S)", text.rstrip())])


def strip_answer_instruction(question: str) -> tuple[str, bool]:
    """``question`` less its trailing answer-format sentences (never all of it), and whether any was removed."""
    removed = False
    while True:
        start = _last_sentence_start(question)
        head, sentence = question[:start].rstrip(), question[start:].strip()
        if not head or not _ANSWER_INSTRUCTION_RE.match(sentence):
            return question, removed
        question, removed = head, True


def _turns(record: dict) -> list[tuple[str, str]]:
    """``[(role, text), ...]`` without system turns; raises ``Unconvertible`` on anything else."""
    turns = record.get("conversations", record.get("messages"))
    if not isinstance(turns, list) or not turns:
        raise Unconvertible("no conversations list")
    out = []
    for turn in turns:
        if not isinstance(turn, dict):
            raise Unconvertible("turn is not an object")
        role = _ROLES.get(str(turn.get("from", turn.get("role", ""))).lower())
        if role is None:
            raise Unconvertible("unknown role")
        text = turn.get("value", turn.get("content"))
        if not isinstance(text, str):
            raise Unconvertible("non-text turn content")
        if role != "system":
            out.append((role, text))
    roles = [role for role, _ in out]
    if len(roles) < 2 or len(roles) % 2 or roles != ["user", "assistant"] * (len(roles) // 2):
        raise Unconvertible("turns do not alternate user/assistant")
    return out


def _image_values(record: dict) -> list:
    names = record.get("images", record.get("image"))
    if names is None:
        return []
    if isinstance(names, str | dict | Image.Image):
        return [names]
    if not isinstance(names, list):
        raise Unconvertible(f"unsupported image value ({type(names).__name__})")
    return names


def _context(turns: list[tuple[str, str]], parts: list[int]) -> list[dict]:
    """The earlier rounds as messages: user turns with their image parts, replies as published."""
    messages = []
    for (role, text), n_images in zip(turns, parts, strict=True):
        content = [{"type": "image"} for _ in range(n_images)] + [{"type": "text", "text": text}]
        messages.append({"role": role, "content": content})
    return messages


def convert_vision_r1(
    records: Iterable,
    image_root=None,
    tags: CotTags = DEFAULT_TAGS,
    images: ImageFiles | None = None,
    keep_source_answer: bool = False,
) -> tuple[list[dict], DataReport]:
    """Vision-R1 cold-start ShareGPT records to ours (rules in the module docstring)."""
    files = images or ImageFiles.of(None, image_root)

    def convert_one(record: dict, index: int) -> dict:
        turns = _turns(record)
        values = _image_values(record)
        counts = [text.count(PLACEHOLDER) if role == "user" else 0 for role, text in turns]
        if sum(counts) not in (0, len(values)):
            raise Unconvertible("image placeholder count mismatch")
        if not sum(counts):
            counts[0] = len(values)
        resolved = [files.resolve(value) for value in values]
        if any(image is None for image in resolved):
            raise Unconvertible("missing image")
        changed = False
        texts = []
        for role, text in turns:
            if role == "user":
                text, removed = strip_answer_instruction(strip_placeholders(text))
                changed |= removed
                if not text:
                    raise Unconvertible("empty question")
            texts.append(text)
        question = texts[-2]
        think, raw = normalise_response(turns[-1][1])
        answer = clean_answer(raw)
        if not answer:
            raise Unconvertible("empty answer")
        options = lettered_options(question)
        answer, answer_type = classify_answer(answer, options)
        target = raw.strip() if keep_source_answer else answer
        completion = cot_completion(think, target, tags) if think else direct_completion(target, tags)
        roles = [role for role, _ in turns[:-2]]
        context = _context(list(zip(roles, texts[:-2], strict=True)), counts[:-2])
        id_ = str(record.get("id") or f"vision_r1-{index:06d}")
        out = make_record(
            id_, question, completion, resolved, answer, answer_type, options, "vision_r1", tags=tags,
            context=context,
        )  # fmt: skip
        return out | {"changed": ["answer instruction removed"] if changed else []}

    return run("vision_r1", records, convert_one, tags)
