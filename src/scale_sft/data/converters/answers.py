"""Reading a source's final answer, its options and its answer type from free text (the converters' heuristics).

These read *source* data, before training: ``source_answer`` finds the answer a dataset's reasoning trace ends
with. Every rule they share with evaluation and the rewards (the think/answer tag structure, ``\\boxed{}``,
answer statements, numbers, option letters) is ``scale_sft.segments``' or ``scale_sft.answers``', so a gold
answer written here reads the same under evaluation. The rules, first that applies:

1. ``normalise_response``: the text must pass ``segments.answer_start`` (the tag rules of every training
   target: one think block, no near-miss tags, no answer tag inside it, ...; a violation is counted under its
   message), with nothing but whitespace before ``<think>`` and non-empty reasoning; the reasoning is kept
   verbatim, less its surrounding whitespace. A response without think tags is a direct answer only when it
   is an explicit ``<answer>...</answer>`` or a single line.
2. ``source_answer``, on the text after ``</think>`` (the *tail*):
   a. an ``<answer>...</answer>`` pair: its content (text around the pair is dropped);
   b. the last ``\\boxed{...}``: its content (an unclosed last ``\\boxed{`` makes the record unconvertible);
   c. the last line holding an answer statement (``scale_sft.answers.ANSWER_STATEMENT_RE``), with markdown
      ``**``/``__`` removed: the rest of the line (``The answer is B.``, ``**Answer:** 42``, ``Final answer:
      7``), or a line that is only ``Final answer`` followed by the answer on the next non-empty line;
   d. a tail of a single line: the whole line.
3. ``clean_answer``: surrounding ``*``, backticks, ``$`` and quotes, one trailing ``.`` and a leading answer
   statement (Vision-R1-cold writes ``<answer> Final Answer:B </answer>``) are removed.
4. ``classify_answer``: when the question lists lettered options (``lettered_options``: lines ``A. ...``,
   ``A: ...``, ``(A) ...``, or LLaVA-CoT's one-line ``Options: (A) Seattle (B) Juneau``), the letter
   ``scale_sft.answers.normalize_choice`` reads from the answer (its option text, ``B``, ``(B)``, ``B) text``,
   ``option B``): ``multiple_choice``. Otherwise ``numeric`` when the whole answer is a number
   (``scale_sft.answers.is_number``), else ``free_text``. An answer that evaluation could not read as its type
   is unconvertible (``gold answer unreadable``).
"""

from __future__ import annotations

import re

from scale_sft.answers import (
    ANSWER_STATEMENT_RE,
    FREE_TEXT,
    MULTIPLE_CHOICE,
    NUMERIC,
    boxed_contents,
    is_number,
    normalize_answer,
    normalize_choice,
    strip_statement,
)
from scale_sft.data.converters.common import Unconvertible
from scale_sft.data.format import LETTERS
from scale_sft.segments import answer_start
from scale_sft.tags import DEFAULT_TAGS, CotTags

_OPTION_RE = re.compile(r"^\s*\(?([A-J])\)?\s*[.):：]\s*(.+?)\s*$")
_INLINE_OPTION_RE = re.compile(r"\(([A-J])\)\s*")
_HEADING_RE = re.compile(r"^[#\s]*(?:the\s+)?final\s+answer\s*[:：]?\s*$", re.IGNORECASE)


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


def boxed(text: str) -> str | None:
    """The content of the last ``\\boxed{...}``, or None; an unclosed last one is unconvertible."""
    contents = boxed_contents(text)
    if contents and contents[-1] is None:
        raise Unconvertible("unclosed \\boxed")
    return contents[-1] if contents else None


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
        text = strip_statement(text)
        if len(text) > 1 and text[0] == text[-1] == "$":
            text = text[1:-1]
        if text.endswith(".") and not text.endswith(".."):
            text = text[:-1]
    return text


def source_answer(tail: str, tags: CotTags = DEFAULT_TAGS) -> str:
    """The final answer in a source's text after ``</think>``, by rules 2a-2d (``tags``: the source's tags)."""
    answer_start(tail, tags)  # the tag rules: answer tags balanced and in order
    if tags.answer_start in tail:
        return tail[tail.find(tags.answer_start) + len(tags.answer_start) : tail.find(tags.answer_end)]
    inner = boxed(tail)
    if inner is not None:
        return inner
    lines = [line.replace("**", "").replace("__", "").strip() for line in tail.strip().splitlines()]
    for k in range(len(lines) - 1, -1, -1):
        following = next((line for line in lines[k + 1 :] if line), "")
        statement = ANSWER_STATEMENT_RE.search(lines[k])
        if statement:
            return lines[k][statement.end() :].strip() or following
        if _HEADING_RE.match(lines[k]) and following:
            return following
    if len(lines) == 1:
        return lines[0]
    raise Unconvertible("no recognisable answer")


def classify_answer(answer: str, options: list[str]) -> tuple[str, str]:
    """``(answer, answer_type)``: a choice letter for multiple choice, else numeric or free text (rule 4)."""
    letter = normalize_choice(answer, options) if options else None
    if letter is not None:
        return letter, MULTIPLE_CHOICE
    answer_type = NUMERIC if is_number(answer) else FREE_TEXT
    if normalize_answer(answer, answer_type) is None:
        raise Unconvertible("gold answer unreadable")
    return answer, answer_type


def normalise_response(text: str, tags: CotTags = DEFAULT_TAGS) -> tuple[str | None, str]:
    """``(reasoning or None, raw answer)`` of a source's assistant text (rule 1); raises ``Unconvertible`` or
    ``MalformedSampleError`` (both counted under their message)."""
    split = answer_start(text, tags)
    if split == 0:
        stripped = text.strip()
        if tags.answer_start in stripped or len(stripped.splitlines()) == 1:
            return None, source_answer(stripped, tags)
        raise Unconvertible("no think block")
    start = text.find(tags.think_start)
    if text[:start].strip():
        raise Unconvertible("text before the think block")
    think = text[start + len(tags.think_start) : split - len(tags.think_end)].strip()
    if not think:
        raise Unconvertible("empty think block")
    return think, source_answer(text[split:], tags)
