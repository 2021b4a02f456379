"""The rulebook for reading answers: every rule that reads an answer out of text, once.

Converters (a source's gold answer), evaluation (a model's answer, the gold it is scored against) and the GRPO
rewards all call it, so a gold a converter writes reads the same under evaluation. The tag *structure* is
``scale_sft.segments``'; this module reads what stands inside it (examples in ``docs/ANSWERS.md``):

* **Where the answer stands** (``parse_generation``): after the first ``</think>`` only (the whole text
  without think tags; nowhere while ``<think>`` is open): the last complete answer block there, or in the
  ``"boxed"`` format, without one, the last complete ``\\boxed{...}`` there (``"last_number"``, lenient:
  without either, the last number there).
* **Answer statements** (``ANSWER_STATEMENT_RE``): ``answer is X``, ``answer: X``, ``answer would be X``.
* **Numbers** (``numbers_in``): read exactly or not at all. **Option letters** (``normalize_choice``): read
  only where a letter is expected; a hedge is unreadable.
* **What counts as correct** (``normalize_answer``, ``read_gold``, ``is_correct``) per ``answer_type``:
  ``multiple_choice``: equal option letters; ``numeric``: equal numbers (``3.0`` == ``3``, ``3e2`` == ``300``;
  no tolerance); ``free_text`` and ``anls``: equal ``normalize_text`` of the answer bodies (the graded DocVQA
  similarity is the separate score ``evaluation.scoring.anls``).
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
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
ANSWER_FORMATS = ("tags", "boxed", "last_number")  # where the final answer stands: ``parse_generation``

# ---------------------------------------------------------------------------------------------------------
# Where the answer stands.

_BOXED_OPEN_RE = re.compile(r"\\boxed\s*\{")


def boxed_contents(text: str) -> list[str | None]:
    """The content of each ``\\boxed{...}`` in text order (nested braces kept: ``\\boxed{\\frac{1}{2}}``), None
    for one that is never closed. One pass with a stack of open braces, so a looping generation stays linear."""
    opened_at = {m.end() - 1: k for k, m in enumerate(_BOXED_OPEN_RE.finditer(text))}  # brace -> box index
    contents: list[str | None] = [None] * len(opened_at)
    stack: list[int] = []
    for pos, char in enumerate(text):
        if char == "{":
            stack.append(pos)
        elif char == "}" and stack:
            opened = stack.pop()
            if opened in opened_at:
                contents[opened_at[opened]] = text[opened + 1 : pos]
    return contents


def last_boxed(text: str) -> str | None:
    """The content of the last *complete* ``\\boxed{...}``, or None (a model's unclosed box is ignored)."""
    return next((c for c in reversed(boxed_contents(text)) if c is not None), None)


@lru_cache(maxsize=32)
def _block_re(start: str, end: str) -> re.Pattern[str]:
    open_, close = re.escape(start), re.escape(end)
    return re.compile(f"{open_}((?:(?!{open_}).)*?){close}", re.DOTALL)


@dataclass(frozen=True)
class ParsedGeneration:
    """The reasoning and the final answer of a generation, each None when it is missing.

    ``think`` is the content of the first complete think block: an opening tag, then the nearest closing tag
    with no other opening tag in between; an unclosed ``<think>`` or a bare ``</think>`` gives None, so
    reasoning is never guessed from untagged text. ``answer`` is read from the text after the reasoning only
    (module docstring): the last complete answer block there (a model that revises its answer is graded on
    the last one), or, without one, the last complete ``\\boxed{...}`` there (``"boxed"``; ``"last_number"``
    then the last number). Both are stripped of whitespace; an empty answer block gives ``""``, not None."""

    think: str | None
    answer: str | None

    @property
    def malformed(self) -> bool:
        """No final answer found (the paper's format-failure metric); an empty answer block is not malformed."""
        return self.answer is None


def parse_generation(
    text: str, tags: CotTags = DEFAULT_TAGS, answer_format: str = "tags"
) -> ParsedGeneration:
    """Split a generation into its reasoning and its final answer (see ``ParsedGeneration``)."""
    if answer_format not in ANSWER_FORMATS:
        raise ValueError(f"answer_format must be one of {ANSWER_FORMATS}, got {answer_format!r}.")
    think = _block_re(tags.think_start, tags.think_end).search(text)
    after = text[generation_split(text, tags) :]
    answers = _block_re(tags.answer_start, tags.answer_end).findall(after)
    answer = answers[-1] if answers else None
    if answer is None and answer_format != "tags":
        boxed = last_boxed(after)
        answer = boxed if boxed is not None or answer_format == "boxed" else last_number(after)
    return ParsedGeneration(
        think=think.group(1).strip() if think else None,
        answer=answer.strip() if answer is not None else None,
    )


def extract_answer(text: str, tags: CotTags = DEFAULT_TAGS, answer_format: str = "tags") -> str | None:
    """The final answer of a generation (``parse_generation``), or None."""
    return parse_generation(text, tags, answer_format).answer


# ---------------------------------------------------------------------------------------------------------
# Answer statements and text.

ANSWER_STATEMENT_RE = re.compile(
    r"\banswer\s*(?:[:：]|\s(?:is|would\s+be|should\s+be|must\s+be|will\s+be)\b\s*[:：]?)\s*", re.IGNORECASE
)
"""``answer is``, ``answer:``, ``answer would be`` (and a colon after the verb): what precedes a stated answer."""

_LEADING_STATEMENT_RE = re.compile(
    r"^(?:(?:so|thus|therefore|hence)\b,?\s*)?(?:the\s+)?(?:final\s+|correct\s+)?"
    + ANSWER_STATEMENT_RE.pattern,
    re.IGNORECASE,
)
_WRAPPER_RE = re.compile(r"\\(?:boxed|text)\{([^{}]*)\}")


def _clean(text: str) -> str:
    """NFKC, ``\\boxed{X}``/``\\text{X}`` unwrapped, markdown ``*``, backticks and ``$`` removed."""
    text = unicodedata.normalize("NFKC", text)
    text = _WRAPPER_RE.sub(r"\1", text)
    return re.sub(r"[*`$]", "", text).strip()


def strip_statement(text: str) -> str:
    """``text`` without one leading answer statement (``The answer is``, ``So the final answer:``)."""
    return _LEADING_STATEMENT_RE.sub("", text, count=1)


def answer_body(text: str) -> str:
    """The prediction without markup and without a leading answer statement (``The answer is``, ``Answer:``)."""
    return strip_statement(_clean(text)).strip()


def normalize_text(text: str) -> str:
    """NFKC, casefolded, punctuation deleted, whitespace collapsed: ``'The  U.S.!'`` -> ``'the us'``."""
    text = unicodedata.normalize("NFKC", text).casefold()
    text = "".join(ch for ch in text if not unicodedata.category(ch).startswith("P"))
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------------------------
# Numbers: read exactly, or not at all.

_UNITS = [
    "zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
    "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen", "eighteen", "nineteen",
]  # fmt: skip
_TENS = ["twenty", "thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety"]
_NUMBER_WORDS = {word: value for value, word in enumerate(_UNITS)} | {
    word: 20 + 10 * k for k, word in enumerate(_TENS)
}
_SCALES = {"hundred": 2, "thousand": 3, "million": 6, "billion": 9, "trillion": 12}  # powers of ten
# Letters glued to a number that are a magnitude, not a unit: "3k" is not 3.
_MAGNITUDE_SUFFIXES = {"bn", "mn", "mln", "mil", "bil", "tn"}
_DIGITS = r"[-+−]?(?:(?:\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?:\.\d+)?|\.\d+)(?:[eE][-+−]?\d+)?"
_NUMBER_RE = re.compile(
    rf"(?<![\w.])(?P<digits>{_DIGITS})(?P<glued>[\w.,]*)"
    rf"|\b(?P<tens>{'|'.join(_TENS)})(?:[-\s](?P<unit>{'|'.join(_UNITS[1:10])}))?\b"
    rf"|\b(?P<word>{'|'.join(_UNITS)})\b",
    re.IGNORECASE,
)
_SCALE_RE = re.compile(rf"(?:\s+|-)({'|'.join(_SCALES)})s?\b", re.IGNORECASE)
_FULL_NUMBER_RE = re.compile(rf"\s*{_DIGITS}%?\s*")


def _glued_ok(glued: str) -> bool:
    """Whether what is glued to a number's digits leaves it readable: nothing, a sentence's ``.``/``,``, or a
    unit of two or more letters (``3cm``, ``3rd``); a digit (``1,2``, ``3.5.1``), a single letter (``3k``,
    ``3x``) or a magnitude (``3bn``) makes the number unreadable rather than a prefix of itself."""
    letters = glued.rstrip(".,")
    return not letters or (
        letters.isalpha() and len(letters) >= 2 and letters.lower() not in _MAGNITUDE_SUFFIXES
    )


def numbers_in(text: str) -> list[tuple[int, float | None]]:
    """``(position, value)`` of every number in the text, value None for one that cannot be read exactly.

    Digits with an optional sign, thousands commas, decimals and exponent (``-2``, ``1,000``, ``3.50``,
    ``3e5``), English words ``zero`` to ``ninety-nine`` (``three``, ``twenty one``), each optionally followed by
    a scale word (``three hundred`` = 300, ``2.5 million``), read exactly and then rounded to a float.
    Unreadable: see ``_glued_ok``, and a value beyond a float's range (``1e400``, ``1e-400``).
    """
    found: list[tuple[int, float | None]] = []
    for match in _NUMBER_RE.finditer(text):
        value: Decimal | None  # exact until the end: 1.1 million is 1100000, not 1100000.0000000002
        if match.group("digits"):
            digits = match.group("digits").replace(",", "").replace("−", "-")
            value = Decimal(digits) if _glued_ok(match.group("glued")) else None
        elif match.group("tens"):
            unit = match.group("unit")
            value = Decimal(
                _NUMBER_WORDS[match.group("tens").lower()] + (_NUMBER_WORDS[unit.lower()] if unit else 0)
            )
        else:
            value = Decimal(_NUMBER_WORDS[match.group("word").lower()])
        scale = _SCALE_RE.match(text, match.end())
        if scale and value is not None:
            value = value.scaleb(_SCALES[scale.group(1).lower()])
        number = None if value is None else float(value)
        if number is not None and (not math.isfinite(number) or (number == 0) != (value == 0)):
            number = None  # overflows or underflows a float: not another number
        found.append((match.start(), number))
    return found


def last_number(text: str) -> str | None:
    """The last number of the text, canonical, or None (none, or unreadable): a lenient zero-shot reading."""
    found = numbers_in(_clean(text))
    return format_number(found[-1][1]) if found and found[-1][1] is not None else None


def normalize_number(pred: str) -> float | None:
    """The one number a prediction states, or None when it states none, two different ones, or one that cannot
    be read exactly (``numbers_in``). Units and other words around are ignored (``3 cars``), and repeating the
    same value is fine (``3 (three)``). ``1,2`` is not a number; fractions are not supported."""
    values = {value for _, value in numbers_in(_clean(pred))}
    return values.pop() if len(values) == 1 else None


def is_number(text: str) -> bool:
    """Whether the whole text is one number in digits (``12``, ``-3.5``, ``1,000``, ``50%``, ``3e5``): what a
    converter types ``numeric``."""
    return bool(_FULL_NUMBER_RE.fullmatch(text)) and normalize_number(text) is not None


def format_number(value: float) -> str:
    """The canonical spelling of a number: ``3.0`` -> ``'3'``, ``2.50`` -> ``'2.5'``, ``3e5`` -> ``'300000'``."""
    return str(int(value)) if value.is_integer() else repr(value)


# ---------------------------------------------------------------------------------------------------------
# Option letters.

# Places where an option letter may stand: after an answer statement or option marker, or in brackets.
_MARKER_RE = re.compile(
    rf"(?:{ANSWER_STATEMENT_RE.pattern}|\b(?:answer|option|choice)\b\s*[:\-]?\s*)", re.IGNORECASE
)
_BRACKETED_RE = re.compile(r"[(\[]([A-Za-z])[)\]]")
_STANDALONE_RE = re.compile(r"(?<![\w'’])[A-Za-z](?![\w'’])")
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
    """Indices of the choices whose normalised text occurs in ``text`` as whole words; a choice contained in
    another matching choice (``blue`` in ``dark blue``) is dropped."""
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
       choices. Once a letter is read, any other standalone letter anywhere in the body that reads as a valid
       option letter by the same rule makes the prediction a hedge, unreadable (``B or C``, ``B, not C``,
       ``b. or c.``, ``B (or maybe c)``), and so does a leading ``B. text`` whose text is exactly another
       choice's text (``B. red`` when red is A).
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
    if len(found) == 1:  # any other option letter makes it a hedge: "B or C", "b. or c."
        found |= {
            m.group().upper() for m in _STANDALONE_RE.finditer(body) if _letter_at(body, m.start()) in valid
        }
    if len(found) > 1 or not found <= valid:
        return None
    letter = found.pop()
    lead = re.match(r"[(\[]?[A-Za-z][)\].:]\s+(.+)", body)
    named = normalize_text(lead.group(1)) if lead else ""
    if named and named in texts and texts.index(named) != LETTERS.index(letter):
        return None  # "B. red" where red is choice A
    return letter


# ---------------------------------------------------------------------------------------------------------
# Gold answers and matching: what counts as correct.


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

    A JSON number (``3``, ``2.5``; not a boolean) is read as its text, so a numeric gold written as a number is
    scored; a multiple-choice gold must be a letter (a number there may be an index: ``gold answer
    unreadable``). Raises ``GoldError`` (a ``ValueError``) when ``answer_type`` is not one of
    ``ANSWER_TYPES``, ``answer`` is neither a non-empty string nor a finite number, ``choices`` is not a list of
    strings (at most ``len(LETTERS)``), or the answer cannot be read as its type (``normalize_answer`` gives
    None: no letter among the choices, no single number, ...).
    Empty ``choices`` mean none (a multiple-choice gold is then any letter).
    """
    answer, answer_type, choices = record.get("answer"), record.get("answer_type"), record.get("choices")
    if answer_type not in ANSWER_TYPES:
        raise GoldError(
            SkipReason.UNKNOWN_ANSWER_TYPE, f"answer_type {answer_type!r} is not one of {ANSWER_TYPES}"
        )
    if isinstance(answer, int | float) and not isinstance(answer, bool) and math.isfinite(answer):
        if answer_type == MULTIPLE_CHOICE:
            raise GoldError(
                SkipReason.GOLD_ANSWER_UNREADABLE, f"gold answer {answer!r} is a number, not an option letter"
            )
        answer = str(answer)
    if not isinstance(answer, str) or not answer.strip():
        raise GoldError(SkipReason.NO_GOLD_ANSWER, f"answer {answer!r} is neither a non-empty string nor a number")
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


def is_correct(
    pred: str | None, gold: str | float, answer_type: str, choices: Sequence[str] | None = None
) -> bool:
    """Whether the prediction matches the gold under the rules of its answer type (None is wrong).

    The gold goes through the same normalisation; a gold that cannot be read raises ``ValueError``.
    """
    target = read_gold({"answer": gold, "answer_type": answer_type, "choices": choices}).target
    return normalize_answer(pred, answer_type, choices) == target
