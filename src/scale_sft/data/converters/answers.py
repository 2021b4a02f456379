"""Reading a source's final answer, its options and its answer type from free text (the converters' heuristics).

These read *source* data, before training: ``source_answer`` finds the answer a dataset's reasoning trace ends
with, which is not ``scale_sft.evaluation.answers.extract_answer`` (the answer a model generated, read from our
own tags). The rules, first that applies:

1. ``normalise_response``: the text must hold exactly one ``<think>...</think>`` block, with nothing but
   whitespace before ``<think>`` and no answer tag inside it; the reasoning is kept verbatim, less its
   surrounding whitespace. A response without think tags is a direct answer only when it is an explicit
   ``<answer>...</answer>`` or a single line.
2. ``source_answer``, on the text after ``</think>`` (the *tail*):
   a. an ``<answer>...</answer>`` pair: its content (text around the pair is dropped);
   b. the last ``\\boxed{...}``: its content (an unclosed ``\\boxed{`` makes the record unconvertible);
   c. the last answer marker, with markdown ``**``/``__`` removed: ``answer is X``, ``answer: X``
      (``The answer is B.``, ``**Answer:** 42``, ``Final answer: 7``), or a line that is only ``Final answer``
      followed by the answer on the next non-empty line;
   d. a tail of a single line: the whole line.
3. ``clean_answer``: surrounding ``*``, backticks, ``$`` and quotes, one trailing ``.`` and a leading
   ``Final Answer:`` / ``Answer:`` (Vision-R1-cold writes ``<answer> Final Answer:B </answer>``) are removed.
4. ``classify_answer``: when the question lists lettered options (``lettered_options``: lines ``A. ...``,
   ``A: ...``, ``(A) ...``, or LLaVA-CoT's one-line ``Options: (A) Seattle (B) Juneau``), an answer equal to an
   option's text (case-insensitive) becomes its letter, else ``B``, ``(B)``, ``B.``, ``B) text``, ``option B``
   becomes ``B``: ``multiple_choice``. Otherwise ``numeric`` when it parses as a number, else ``free_text``.
"""

from __future__ import annotations

import re

from scale_sft.data.converters.common import Unconvertible
from scale_sft.data.format import LETTERS
from scale_sft.tags import DEFAULT_TAGS, CotTags

_OPTION_RE = re.compile(r"^\s*\(?([A-J])\)?\s*[.):：]\s*(.+?)\s*$")
_INLINE_OPTION_RE = re.compile(r"\(([A-J])\)\s*")
_LETTER_ANSWER_RE = re.compile(r"^(?:(?i:option|choice)\s+)?\(?([A-J])\)?(?:$|[.):：]|\s)")
_NUMBER_RE = re.compile(r"^[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)?(?:\.\d+)?%?$")
_MARKER_RE = re.compile(r"answer\s*(?:is\b|:|：)\s*[:：]?\s*(.*)$", re.IGNORECASE)
_HEADING_RE = re.compile(r"^[#\s]*(?:the\s+)?final\s+answer\s*[:：]?\s*$", re.IGNORECASE)
_PREFIX_RE = re.compile(r"^(?:the\s+)?(?:final\s+)?answer\s*(?:is\b|[:：])\s*", re.IGNORECASE)


def _inline_options(line: str) -> list[str]:
    """The options of a line such as ``Options: (A) Seattle (B) Juneau``, from ``(A)`` on."""
    parts = _INLINE_OPTION_RE.split(line)  # [before, "A", text, "B", text, ...]
    letters, texts = parts[1::2], [t.strip().rstrip(",;").strip() for t in parts[2::2]]
    if letters[:1] != ["A"] or letters != list(LETTERS[: len(letters)]) or not all(texts):
        return []
    return texts


def lettered_options(question: str) -> list[str]:
    """The texts of the lettered options listed in ``question`` (A first, in order; rule 4)."""
    options: list[str] = []
    for line in question.splitlines():
        match = _OPTION_RE.match(line)
        if match and len(options) < len(LETTERS) and match.group(1) == LETTERS[len(options)]:
            options.append(match.group(2))
    if len(options) >= 2:
        return options
    for line in question.splitlines():
        inline = _inline_options(line)
        if len(inline) >= 2:
            return inline
    return []


def is_number(text: str) -> bool:
    return bool(re.search(r"\d", text)) and bool(_NUMBER_RE.match(text.strip()))


def boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}`` (nested braces allowed), or None; unclosed is unconvertible."""
    start = text.rfind("\\boxed{")
    if start < 0:
        return None
    depth, i = 0, start + len("\\boxed")
    for j in range(i, len(text)):
        depth += {"{": 1, "}": -1}.get(text[j], 0)
        if depth == 0:
            return text[i + 1 : j]
    raise Unconvertible("unclosed \\boxed")


def clean_answer(text: str) -> str:
    """The answer less its decoration (rule 3)."""
    text = text.strip()
    inner = boxed(text)
    if inner is not None:
        text = inner.strip()
    previous = None
    while previous != text:
        previous = text
        text = text.strip().strip("*`\"'").strip()
        text = _PREFIX_RE.sub("", text)
        if len(text) > 1 and text[0] == text[-1] == "$":
            text = text[1:-1]
        if text.endswith(".") and not text.endswith(".."):
            text = text[:-1]
    return text


def source_answer(tail: str, tags: CotTags = DEFAULT_TAGS) -> str:
    """The final answer in a source's text after ``</think>``, by rules 2a-2d (``tags``: the source's tags)."""
    n_open, n_close = tail.count(tags.answer_start), tail.count(tags.answer_end)
    if n_open or n_close:
        start, end = tail.find(tags.answer_start), tail.find(tags.answer_end)
        if n_open != 1 or n_close != 1 or end < start:
            raise Unconvertible("unbalanced answer tags")
        return tail[start + len(tags.answer_start) : end]
    inner = boxed(tail)
    if inner is not None:
        return inner
    lines = [line.replace("**", "").replace("__", "").strip() for line in tail.strip().splitlines()]
    for k in range(len(lines) - 1, -1, -1):
        following = next((line for line in lines[k + 1 :] if line), "")
        match = _MARKER_RE.search(lines[k])
        if match:
            return match.group(1) or following
        if _HEADING_RE.match(lines[k]) and following:
            return following
    if len(lines) == 1:
        return lines[0]
    raise Unconvertible("no recognisable answer")


def classify_answer(answer: str, options: list[str]) -> tuple[str, str]:
    """``(answer, answer_type)``: a choice letter for multiple choice, else numeric or free text (rule 4)."""
    if options:
        by_text = [i for i, option in enumerate(options) if option.strip().casefold() == answer.casefold()]
        if len(by_text) == 1:
            return LETTERS[by_text[0]], "multiple_choice"
        match = _LETTER_ANSWER_RE.match(answer)
        if match and match.group(1) in LETTERS[: len(options)]:
            return match.group(1), "multiple_choice"
    return answer, "numeric" if is_number(answer) else "free_text"


def normalise_response(text: str, tags: CotTags = DEFAULT_TAGS) -> tuple[str | None, str]:
    """``(reasoning or None, raw answer)`` of a source's assistant text (rule 1); raises ``Unconvertible``."""
    think_start, think_end = tags.think_start, tags.think_end
    n_open, n_close = text.count(think_start), text.count(think_end)
    if n_open == 0 and n_close == 0:
        stripped = text.strip()
        if tags.answer_start in stripped or len(stripped.splitlines()) == 1:
            return None, source_answer(stripped, tags)
        raise Unconvertible("no think block")
    if (n_open == 0) != (n_close == 0):
        raise Unconvertible("only one think tag")
    if n_open != 1 or n_close != 1:
        raise Unconvertible("several think blocks")
    start, end = text.find(think_start), text.find(think_end)
    if end < start:
        raise Unconvertible("think tags out of order")
    if text[:start].strip():
        raise Unconvertible("text before the think block")
    think = text[start + len(think_start) : end].strip()
    if not think:
        raise Unconvertible("empty think block")
    if tags.answer_start in think or tags.answer_end in think:
        raise Unconvertible("answer tag inside the think block")
    tail = text[end + len(think_end) :]
    if not tail.strip():
        raise Unconvertible("no recognisable answer")
    return think, source_answer(tail, tags)
