"""Answer extraction and matching: the one implementation shared by evaluation metrics and GRPO rewards.

A generation is ``<think>reasoning</think>\\n<answer>B</answer>`` with the tags of a ``CotTags`` (answer
format ``"tags"``), or, as DeepSeek-R1 distillation traces are, ``<think>reasoning</think>`` then a final answer
in ``\\boxed{}`` with answer tags optional (answer format ``"boxed"``). The format is chosen explicitly (by the
record's ``answer_format`` or the ``eval`` option), never guessed from the text.

Answer types (the ``answer_type`` of a record) and what counts as correct:

* ``multiple_choice``: the gold is an option letter (``A`` is the first of ``choices``); the prediction is
  mapped to a letter by ``normalize_choice`` and must equal it.
* ``numeric``: gold and prediction are read by ``normalize_number`` and must be equal as numbers
  (``3.0`` == ``3``; no tolerance, no arithmetic).
* ``free_text``: ``normalize_text`` of both must be equal (case, unicode form, punctuation and whitespace
  are ignored).
* ``anls``: correct is the same normalised exact match as ``free_text``, so that accuracy means one thing for
  every type; the graded ANLS similarity of DocVQA is the separate score ``scoring.anls(pred, gold)``.

Before matching, a prediction is cleaned (``answer_body``): unicode NFKC, markdown ``*``/backticks/``$`` and
``\\boxed{}`` removed, and a leading answer phrase (``The answer is``, ``Answer:``, ``So the final answer is``)
cut off, so ``The answer is blue.`` matches the gold ``blue``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache

from scale_sft.data.format import LETTERS
from scale_sft.data.skips import SkipReason
from scale_sft.segments import generation_split
from scale_sft.tags import DEFAULT_TAGS, CotTags

MULTIPLE_CHOICE = "multiple_choice"
NUMERIC = "numeric"
FREE_TEXT = "free_text"
ANLS = "anls"
ANSWER_TYPES = (MULTIPLE_CHOICE, NUMERIC, FREE_TEXT, ANLS)
ANSWER_FORMATS = ("tags", "boxed")  # where the final answer stands: an answer block, or the last \\boxed{}


@dataclass(frozen=True)
class ParsedGeneration:
    """The reasoning and the final answer of a generation, each None when it is missing.

    ``think`` is the content of the first complete think block: an opening tag, then the nearest closing tag
    with no other opening tag in between. An unclosed ``<think>`` or a bare ``</think>`` gives None, so
    reasoning is never guessed from untagged text. ``answer`` is the content of the last complete answer
    block, found the same way, anywhere in the text (a model that revises its answer is graded on the
    last one). In the ``"boxed"`` format, a generation without an answer block answers with the content of its
    last complete ``\\boxed{...}`` after the reasoning (after the first ``</think>``; anywhere when there are no
    think tags; nowhere when ``<think>`` is never closed), as ``segments.generation_split`` splits it. Both are
    stripped of surrounding whitespace; an empty answer block gives ``""``, not None.
    """

    think: str | None
    answer: str | None

    @property
    def malformed(self) -> bool:
        """No final answer found (the paper's format-failure metric): no complete answer block, or in the
        ``"boxed"`` format neither an answer block nor a boxed answer; an empty block is not malformed."""
        return self.answer is None


@lru_cache(maxsize=32)
def _block_re(start: str, end: str) -> re.Pattern[str]:
    open_, close = re.escape(start), re.escape(end)
    return re.compile(f"{open_}((?:(?!{open_}).)*?){close}", re.DOTALL)


_BOXED_OPEN_RE = re.compile(r"\\boxed\s*\{")


def last_boxed(text: str) -> str | None:
    """The content of the last complete ``\\boxed{...}`` (nested braces kept: ``\\boxed{\\frac{1}{2}}``), or None.

    One pass over the text with a stack of open braces, so a looping generation stays linear.
    """
    contents = {m.end() - 1: m.end() for m in _BOXED_OPEN_RE.finditer(text)}  # brace -> content start
    stack: list[int] = []
    found = None
    for pos, char in enumerate(text):
        if char == "{":
            stack.append(pos)
        elif char == "}" and stack:
            opened = stack.pop()
            if opened in contents:
                found = text[contents[opened] : pos]
    return found


def parse_generation(
    text: str, tags: CotTags = DEFAULT_TAGS, answer_format: str = "tags"
) -> ParsedGeneration:
    """Split a generation into its reasoning and its final answer (see ``ParsedGeneration``)."""
    if answer_format not in ANSWER_FORMATS:
        raise ValueError(f"answer_format must be one of {ANSWER_FORMATS}, got {answer_format!r}.")
    think = _block_re(tags.think_start, tags.think_end).search(text)
    answers = _block_re(tags.answer_start, tags.answer_end).findall(text)
    answer = answers[-1] if answers else None
    if answer is None and answer_format == "boxed":
        answer = last_boxed(text[generation_split(text, tags) :])
    return ParsedGeneration(
        think=think.group(1).strip() if think else None,
        answer=answer.strip() if answer is not None else None,
    )


def extract_answer(text: str, tags: CotTags = DEFAULT_TAGS, answer_format: str = "tags") -> str | None:
    """The final answer of a generation (``parse_generation``), or None."""
    return parse_generation(text, tags, answer_format).answer


# ---------------------------------------------------------------------------------------------------------
# Cleaning shared by every answer type.

_BOXED_RE = re.compile(r"\\(?:boxed|text)\{([^{}]*)\}")
_ANSWER_PREFIX_RE = re.compile(
    r"^(?:(?:so|thus|therefore|hence)\b,?\s*)?(?:the\s+)?(?:final\s+|correct\s+)?answer\b\s*(?:is\b)?\s*:?\s*",
    re.IGNORECASE,
)


def _clean(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = _BOXED_RE.sub(r"\1", text)
    return re.sub(r"[*`$]", "", text).strip()


def answer_body(text: str) -> str:
    """The prediction without markup and without a leading answer phrase (``The answer is``, ``Answer:``)."""
    return _ANSWER_PREFIX_RE.sub("", _clean(text), count=1).strip()


def normalize_text(text: str) -> str:
    """NFKC, casefolded, punctuation deleted, whitespace collapsed: ``'The  U.S.!'`` -> ``'the us'``."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------------------------
# Multiple choice.

# Places where an option letter may stand: after an answer or option marker, or in brackets.
_MARKER_RE = re.compile(
    r"\b(?:answer|option|choice)\b(?:\s+(?:is|would\s+be|should\s+be|will\s+be)\b)?\s*[:\-]?\s*",
    re.IGNORECASE,
)
_BRACKETED_RE = re.compile(r"[(\[]([A-Za-z])[)\]]")
_CAPITAL_RE = re.compile(r"(?<![\w'’])[A-Z](?![\w'’])")


_LONE_LETTER_RE = re.compile(r"[A-Za-z](?![\w'’])")
_WORD_AFTER_RE = re.compile(r"\s+[a-z]")
_LETTER_END_RE = re.compile(r"\s*(?:[.:)]|$)")


def _letter_at(text: str, pos: int) -> str | None:
    """The option letter standing at ``pos``, by the rule documented in ``normalize_choice``.

    Patterns are matched at ``pos`` in place (no slice of the rest of the text), so reading every marker of a
    long text stays linear.
    """
    bracketed = _BRACKETED_RE.match(text, pos)
    if bracketed:
        return bracketed.group(1).upper()
    if not _LONE_LETTER_RE.match(text, pos):
        return None
    letter = text[pos]
    if letter.isupper():
        # "A cat", "I think": the English words, not the options.
        return None if letter in "AI" and _WORD_AFTER_RE.match(text, pos + 1) else letter
    return letter.upper() if _LETTER_END_RE.match(text, pos + 1) else None


def option_mentions(text: str) -> list[tuple[int, str]]:
    """``(position, letter)`` of the option letters a text names by marker or bracket, in text order.

    A bracketed letter anywhere (``(B)``, ``[b]``) or a letter right after ``answer is``, ``answer:``,
    ``option`` or ``choice`` (``option b``, ``the answer is B because``), read as ``normalize_choice`` says.
    """
    mentions = [(m.start(1), m.group(1).upper()) for m in _BRACKETED_RE.finditer(text)]
    for marker in _MARKER_RE.finditer(text):
        letter = _letter_at(text, marker.end())
        if letter is not None:
            mentions.append((marker.end(), letter))
    return sorted(set(mentions))


def _choice_matches(text: str, choices: Sequence[str]) -> list[int]:
    """Indices of the choices whose normalised text occurs in ``text`` as whole words.

    A choice contained in another matching choice (``blue`` in ``dark blue``) is dropped.
    """
    padded = f" {normalize_text(text)} "
    texts = [normalize_text(choice) for choice in choices]
    found = [i for i, t in enumerate(texts) if t and f" {t} " in padded]
    return [i for i in found if not any(j != i and f" {texts[i]} " in f" {texts[j]} " for j in found)]


def normalize_choice(pred: str, choices: Sequence[str] | None) -> str | None:
    """The option letter a prediction names, or None when it names none or several.

    Rules, first that applies (``choices`` may be None: then any option letter ``A``-``J`` is valid and no text
    is matched):

    1. The answer body (see ``answer_body``) equals one choice's text after ``normalize_text``: that choice
       (``blue``, ``Blue.``, ``The answer is blue``). Checked first so ``a cat`` names the choice "a cat".
    2. Option letters are read only where a letter is expected: a bracketed letter anywhere (``(B)``,
       ``[b]``), the letter starting the body, and the letter right after a marker (``answer is``,
       ``answer:``, ``option``, ``choice``). There, a capital letter counts when no word character follows it
       (``B``, ``B.``, ``B) text``, ``B is right``), except ``A`` and ``I`` followed by a lowercase word
       (``A cat``, ``I think``), which are English words; a lowercase letter counts only when followed by
       ``.``, ``)``, ``:`` or the end (``b``, ``b.``, ``option b``), so ``a cat`` is not option A. A capital
       letter inside a sentence (``I pick B``) is not read. All letters found must agree and be one of the
       choices. Once a letter is read, any other standalone capital that is a valid letter (same exceptions)
       makes the prediction ambiguous (``B or C``, ``B, not C``), and so does a leading ``B. text`` whose text
       is exactly another choice's text (``B. red`` when red is A).
    3. No letter: the one choice whose text occurs in the body as whole words (``It is blue``).
    """
    body = answer_body(pred)
    valid = set(LETTERS[: len(choices)] if choices else LETTERS)
    texts = [normalize_text(choice) for choice in choices or []]
    exact = [i for i, t in enumerate(texts) if t and t == normalize_text(body)]
    if exact:
        return LETTERS[exact[0]] if len(exact) == 1 else None
    found = {letter for _, letter in option_mentions(_clean(pred))} | ({_letter_at(body, 0)} - {None})
    if not found:
        matches = _choice_matches(body, choices or [])
        return LETTERS[matches[0]] if len(matches) == 1 else None
    if len(found) == 1:  # any other capital option letter makes it ambiguous: "B or C", "B, not C"
        found |= {m.group() for m in _CAPITAL_RE.finditer(body) if _letter_at(body, m.start()) in valid}
    if len(found) > 1 or not found <= valid:
        return None
    letter = found.pop()
    lead = re.match(r"[(\[]?[A-Za-z][)\].:]\s+(.+)", body)
    named = normalize_text(lead.group(1)) if lead else ""
    if named and named in texts and texts.index(named) != LETTERS.index(letter):
        return None  # "B. red" where red is choice A
    return letter


# ---------------------------------------------------------------------------------------------------------
# Numbers.

_UNITS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
]  # fmt: skip
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_NUMBER_WORDS = {word: value for value, word in enumerate(_UNITS)} | {
    word: 20 + 10 * k for k, word in enumerate(_TENS)
}
_NUMBER_RE = re.compile(
    r"(?P<digits>(?<![\w.])[-−]?(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|(?<![\w.])[-−]?\.\d+)"
    rf"|\b(?P<tens>{'|'.join(_TENS)})(?:[-\s](?P<unit>{'|'.join(_UNITS[1:10])}))?\b"
    rf"|\b(?P<word>{'|'.join(_UNITS)})\b",
    re.IGNORECASE,
)


def numbers_in(text: str) -> list[tuple[int, float]]:
    """``(position, value)`` of every number in the text: digits (``-2``, ``1,000``, ``3.50``) and words."""
    found = []
    for match in _NUMBER_RE.finditer(text):
        if match.group("digits"):
            value = float(match.group("digits").replace(",", "").replace("−", "-"))
        elif match.group("tens"):
            unit = match.group("unit")
            value = float(
                _NUMBER_WORDS[match.group("tens").lower()] + (_NUMBER_WORDS[unit.lower()] if unit else 0)
            )
        else:
            value = float(_NUMBER_WORDS[match.group("word").lower()])
        found.append((match.start(), value))
    return found


def normalize_number(pred: str) -> float | None:
    """The one number a prediction states, or None when it states none or two different ones.

    Digits with an optional minus, thousands commas and decimals (``-2``, ``1,000``, ``3.50``), and English
    words ``zero`` to ``ninety-nine`` (``three``, ``twenty one``); units and other words around are ignored
    (``3 cars``), and repeating the same value is fine (``3 (three)``). ``1,2`` is two numbers; fractions and
    exponents are not supported.
    """
    values = {value for _, value in numbers_in(_clean(pred))}
    return values.pop() if len(values) == 1 else None


def format_number(value: float) -> str:
    """The canonical spelling of a number: ``3.0`` -> ``'3'``, ``2.50`` -> ``'2.5'``."""
    return str(int(value)) if value.is_integer() else repr(value)


# ---------------------------------------------------------------------------------------------------------
# Scoring.


def normalize_answer(pred: str | None, answer_type: str, choices: Sequence[str] | None = None) -> str | None:
    """The canonical form predictions are compared in: a letter, a formatted number or normalised text.

    None when nothing of the type can be read (no letter, no single number, empty text).
    """
    if answer_type not in ANSWER_TYPES:
        raise ValueError(f"Unknown answer_type {answer_type!r}; expected one of {ANSWER_TYPES}.")
    if pred is None:
        return None
    if answer_type == MULTIPLE_CHOICE:
        return normalize_choice(pred, choices)
    if answer_type == NUMERIC:
        value = normalize_number(pred)
        return None if value is None else format_number(value)
    return normalize_text(answer_body(pred)) or None


@dataclass(frozen=True)
class Gold:
    """A record's gold answer, read once: ``target`` is the canonical form every prediction is compared with."""

    answer: str
    answer_type: str
    choices: tuple[str, ...] | None
    target: str


class GoldError(ValueError):
    """A gold answer that cannot be scored: ``reason`` is its category (what skips are counted under), the
    message says what was found."""

    def __init__(self, reason: SkipReason, detail: str):
        super().__init__(reason.detailed(detail))
        self.reason = reason.value


def read_gold(record: Mapping) -> Gold:
    """The gold answer of a record (``answer``, ``answer_type``, optional ``choices``), checked.

    Raises ``GoldError`` (a ``ValueError``) when ``answer_type`` is not one of ``ANSWER_TYPES``, ``answer`` is
    not a non-empty string, ``choices`` is not a list of strings (at most ``len(LETTERS)``), or the answer cannot
    be read as its type (``normalize_answer`` gives None: no letter among the choices, no single number, ...).
    Empty ``choices`` mean none (a multiple-choice gold is then any letter).
    """
    answer, answer_type, choices = record.get("answer"), record.get("answer_type"), record.get("choices")
    if answer_type not in ANSWER_TYPES:
        raise GoldError(
            SkipReason.UNKNOWN_ANSWER_TYPE, f"answer_type {answer_type!r} is not one of {ANSWER_TYPES}"
        )
    if not isinstance(answer, str) or not answer.strip():
        raise GoldError(SkipReason.NO_GOLD_ANSWER, f"answer {answer!r} is not a non-empty string")
    if choices is not None and (isinstance(choices, str) or not all(isinstance(c, str) for c in choices)):
        raise GoldError(SkipReason.INVALID_CHOICES, f"choices {choices!r} are not a list of strings")
    if choices is not None and len(choices) > len(LETTERS):
        raise GoldError(
            SkipReason.INVALID_CHOICES, f"{len(choices)} choices, more than the {len(LETTERS)} option letters"
        )
    choices = tuple(choices) if choices else None
    target = normalize_answer(answer, answer_type, choices)
    if target is None:
        raise GoldError(
            SkipReason.GOLD_ANSWER_UNREADABLE, f"gold answer {answer!r} cannot be read as {answer_type}"
        )
    return Gold(answer, answer_type, choices, target)


def validate_gold(record: Mapping) -> str | None:
    """The category of the reason a record's gold answer cannot be scored (``GoldError.reason``), or None.

    Call it when a dataset is loaded for evaluation or GRPO, so that a bad gold answer is a counted skip (or
    an error naming the record) before any generation, not a crash after it.
    """
    try:
        read_gold(record)
    except GoldError as err:
        return err.reason
    return None


def is_correct(pred: str | None, gold: str, answer_type: str, choices: Sequence[str] | None = None) -> bool:
    """Whether the prediction matches the gold under the rules of its answer type (None is wrong).

    The gold goes through the same normalisation; a gold that cannot be read raises ``ValueError``.
    """
    target = read_gold({"answer": gold, "answer_type": answer_type, "choices": choices}).target
    return normalize_answer(pred, answer_type, choices) == target
