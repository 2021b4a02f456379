"""Per-item flags and aggregated metrics of an evaluation run (pure Python, no torch).

The path of one prediction: the generator's ``Generation`` -> ``parse_generation`` (extraction, once) ->
``score_item`` (flags, the answer normalised once) -> ``aggregate`` (rates overall and per question type).
``anls`` is the graded DocVQA similarity reported beside exact-match accuracy for text answers.
"""

from __future__ import annotations

import math
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from scale_sft.answers import (
    ANLS,
    ANSWER_STATEMENT_RE,
    FREE_TEXT,
    MULTIPLE_CHOICE,
    NUMERIC,
    Gold,
    ParsedGeneration,
    answer_body,
    format_number,
    normalize_answer,
    numbers_in,
    option_mentions,
)
from scale_sft.data.format import LETTERS
from scale_sft.tags import DEFAULT_TAGS, CotTags

ANLS_THRESHOLD = 0.5


def levenshtein(a: str, b: str) -> int:
    """The edit distance (insertions, deletions, substitutions) between two strings.

    Bit-parallel (Myers 1999, in Hyyrö's form for the global distance): one column of the dynamic-programming
    table is a pair of bit vectors over the shorter string, updated with a few integer operations per character
    of the longer one. Python integers hold any number of bits, so the loop runs ``max(len)`` times in linear
    memory; two 20 KB texts take 20k iterations instead of the 400M cells of the table.
    """
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    mask, top = (1 << len(b)) - 1, 1 << (len(b) - 1)
    positions: dict[str, int] = {}
    for i, char in enumerate(b):
        positions[char] = positions.get(char, 0) | 1 << i
    plus, minus, distance = mask, 0, len(b)  # vertical deltas of the column: +1 / -1 bits; its last cell
    for char in a:
        eq = positions.get(char, 0)
        xv = eq | minus
        xh = (((eq & plus) + plus) ^ plus) | eq
        h_plus = minus | ~(xh | plus) & mask
        h_minus = plus & xh
        distance += bool(h_plus & top) - bool(h_minus & top)
        h_plus = (h_plus << 1 | 1) & mask
        h_minus = (h_minus << 1) & mask
        plus = h_minus | ~(xv | h_plus) & mask
        minus = h_plus & xv
    return distance


def anls(pred: str, gold: str, threshold: float = ANLS_THRESHOLD) -> float:
    """Average Normalised Levenshtein Similarity for one pair, as in DocVQA.

    Both strings are casefolded and whitespace-collapsed (punctuation is kept, as in the benchmark); the
    similarity ``1 - distance / max(len)`` is returned when it is at least ``threshold``, else 0.
    """
    a, b = " ".join(pred.casefold().split()), " ".join(gold.casefold().split())
    if not a and not b:
        return 1.0
    if 1 - abs(len(a) - len(b)) / max(len(a), len(b)) < threshold:
        return 0.0  # the distance is at least the length difference: no need to compute it
    similarity = 1 - levenshtein(a, b) / max(len(a), len(b))
    return similarity if similarity >= threshold else 0.0


def find_loop(
    token_ids: Sequence[int], min_ngram: int = 4, max_ngram: int = 64, min_repeats: int = 3
) -> bool:
    """Whether the tokens hold a degenerate repetition loop.

    A loop is an n-gram of ``min_ngram <= n <= max_ngram`` tokens repeated back to back at least
    ``min_repeats`` times: some ``ids[i : i + n]`` equals each of the ``min_repeats - 1`` n-grams that follow
    it. A shorter period repeated long enough counts too (a 1-token period repeated 12 times is a 4-gram
    repeated 3 times). For each ``n`` one pass counts the run of positions with ``ids[k] == ids[k + n]``; a run
    of ``(min_repeats - 1) * n`` is a loop. That is ``O(len * max_ngram)``: about 10 ms for 2k tokens.
    """
    if min_ngram < 1 or max_ngram < min_ngram or min_repeats < 2:
        raise ValueError("Need 1 <= min_ngram <= max_ngram and min_repeats >= 2.")
    ids = list(token_ids)
    for n in range(min_ngram, min(max_ngram, len(ids) // min_repeats) + 1):
        needed, run = (min_repeats - 1) * n, 0
        for a, b in zip(ids, ids[n:], strict=False):
            run = run + 1 if a == b else 0
            if run >= needed:
                return True
    return False


_CLAUSE_END_RE = re.compile(r"[.!?;,](?=\s|$)|\n")
_SENTENCE_END_RE = re.compile(r"(?<=[.!?])\s+|\n+")


def _statement_clauses(think: str) -> list[str]:
    """The clause after each answer statement, in text order; clauses never overlap, so their total length is
    at most the text's and reading them all is linear (a looping think of ``answer is answer is ...`` too)."""
    statements = list(ANSWER_STATEMENT_RE.finditer(think))
    clauses = []
    for k, statement in enumerate(statements):
        stop = statements[k + 1].start() if k + 1 < len(statements) else len(think)
        clause_end = _CLAUSE_END_RE.search(think, statement.end(), stop)
        clauses.append(think[statement.end() : clause_end.start() if clause_end else stop])
    return clauses


def reasoning_conclusion(think: str, answer_type: str, choices: Sequence[str] | None = None) -> str | None:
    """The answer the reasoning itself commits to, in ``normalize_answer``'s canonical form, or None.

    1. The last answer statement that can be read: ``answer is X``, ``answer: X``, ``answer would be X``,
       where X is the clause after the marker (up to ``.``, ``,``, ``;``, ``!``, ``?`` before a space, a
       newline, or the next answer statement), normalised as an answer of the type (``answer is (C) blue`` ->
       ``C``, ``answer is 5`` -> ``5``).
    2. Otherwise, in the last two sentences only (a conclusion stands at the end): for multiple choice the last
       option letter named by marker or bracket (``option B``, ``choice B``, ``(B)``); for numeric the last
       number (``so there are 5 in total`` -> ``5``). A choice text is read only in a statement (rule 1),
       since reasoning names every choice while comparing them; free text needs rule 1.

    Linear in the length of ``think``.
    """
    for clause in reversed(_statement_clauses(think)):
        value = normalize_answer(clause, answer_type, choices)
        if value is not None:
            return value
    sentences = [s for s in _SENTENCE_END_RE.split(think.strip()) if s.strip()]
    ending = " ".join(sentences[-2:])
    if answer_type == MULTIPLE_CHOICE:
        valid = LETTERS[: len(choices)] if choices else LETTERS
        letters = [letter for _, letter in option_mentions(ending) if letter in valid]
        return letters[-1] if letters else None
    if answer_type == NUMERIC:
        numbers = numbers_in(ending)
        return format_number(numbers[-1][1]) if numbers and numbers[-1][1] is not None else None
    return None


def consistency(
    think: str | None, prediction: str | None, answer_type: str, choices: Sequence[str] | None = None
) -> bool | None:
    """Whether the prediction (in ``normalize_answer``'s canonical form) agrees with the reasoning's conclusion;
    None when either is missing or cannot be read."""
    if think is None or prediction is None:
        return None
    concluded = reasoning_conclusion(think, answer_type, choices)
    return None if concluded is None else concluded == prediction


@dataclass
class Generation:
    """One sampled completion, as the generator hands it to scoring."""

    text: str
    token_ids: list[int]
    think_tokens: int  # tokens up to the end of the first think block (``segments.generation_split``)
    answer_tokens: int  # the tokens after it
    hit_max_new_tokens: bool  # stopped by the token budget, not by an end-of-sequence token


def score_item(
    parsed: ParsedGeneration, gold: Gold, generation: Generation, tags: CotTags = DEFAULT_TAGS
) -> dict:
    """The flags of one generation; ``parsed`` is ``parse_generation(generation.text, tags, answer_format)``.

    * ``prediction``: the final answer (answer block, or boxed answer) read as the gold's type
      (``normalize_answer``, once), or None; ``extracted``: not None.
    * ``correct``: the prediction equals the gold's canonical form.
    * ``malformed``: no final answer found (``ParsedGeneration.malformed``: no complete answer block, or in the
      ``"boxed"`` format neither that nor a boxed answer).
    * ``unfinished``: generation stopped at ``max_new_tokens`` before any ``</think>``, i.e. still reasoning
      (or never opened a think block at all).
    * ``loop``: ``find_loop`` on the generated token ids (defaults).
    * ``consistent``: ``consistency`` of the think block and the prediction (None when undecidable).
    * ``think_tokens``/``answer_tokens``: the token counts given by the generator.
    * ``anls``: ``anls`` of the answer body against the gold for ``free_text``/``anls`` items (0 without an
      answer), None for the other types.
    """
    prediction = normalize_answer(parsed.answer, gold.answer_type, gold.choices)
    text_score = None
    if gold.answer_type in (FREE_TEXT, ANLS):
        text_score = 0.0 if parsed.answer is None else anls(answer_body(parsed.answer), gold.answer)
    return {
        "prediction": prediction,
        "extracted": prediction is not None,
        "correct": prediction == gold.target,
        "malformed": parsed.malformed,
        "unfinished": generation.hit_max_new_tokens and tags.think_end not in generation.text,
        "loop": find_loop(generation.token_ids),
        "consistent": consistency(parsed.think, prediction, gold.answer_type, gold.choices),
        "think_tokens": generation.think_tokens,
        "answer_tokens": generation.answer_tokens,
        "anls": text_score,
    }


# Flags that a benchmark adds to its items (``Benchmark.strict_match``, ``Benchmark.reasoning_check``) -> their rate.
OPTIONAL_RATES = {"correct_strict": "accuracy_strict", "reasoning_correct": "reasoning_correct_rate"}


def _p90(sorted_values: list[int]) -> int:
    """Nearest-rank 90th percentile: the smallest value with at least 90% of the values at or below it."""
    return sorted_values[math.ceil(0.9 * len(sorted_values)) - 1]


def _metrics(items: list[dict]) -> dict:
    n = len(items)
    decided = [item["consistent"] for item in items if item["consistent"] is not None]
    scores = [item["anls"] for item in items if item.get("anls") is not None]
    metrics: dict = {
        "n": n,
        "accuracy": sum(item["correct"] for item in items) / n,
        "extracted_rate": sum(item["extracted"] for item in items) / n,
        "malformed_rate": sum(item["malformed"] for item in items) / n,
        "unfinished_rate": sum(item["unfinished"] for item in items) / n,
        "loop_rate": sum(item["loop"] for item in items) / n,
        "consistency_rate": sum(decided) / len(decided) if decided else None,
        "consistency_n": len(decided),
        "anls_mean": sum(scores) / len(scores) if scores else None,
        "anls_n": len(scores),
    }
    for key in ("think_tokens", "answer_tokens"):
        values = sorted(item[key] for item in items)
        metrics[f"{key}_mean"] = sum(values) / n
        metrics[f"{key}_median"] = float(statistics.median(values))
        metrics[f"{key}_p90"] = _p90(values)
    for flag, name in OPTIONAL_RATES.items():
        judged = [item[flag] for item in items if item.get(flag) is not None]
        if judged:
            metrics[name] = sum(judged) / len(judged)
    return metrics


def aggregate(items: list[dict], group_key: str | None = "question_type") -> dict:
    """``{"overall": metrics, "groups": {group: metrics}}`` over ``score_item`` dicts.

    Items are grouped by ``str(item[group_key])``; an item without the key counts only overall, and
    ``group_key=None`` gives no groups. Metrics of a set of ``n`` items:

    * ``accuracy``, ``extracted_rate``, ``malformed_rate``, ``unfinished_rate``, ``loop_rate``: the fraction
      of the ``n`` items with the flag set.
    * ``consistency_rate``: the fraction consistent among the ``consistency_n`` decidable items (None if 0).
    * ``anls_mean``: the mean ANLS over the ``anls_n`` text items (None if 0).
    * ``{think,answer}_tokens_{mean,median,p90}``: arithmetic mean; median (mean of the two middle values for
      even ``n``); nearest-rank 90th percentile (``sorted[ceil(0.9 n) - 1]``, always an observed value).
    * ``accuracy_strict``, ``reasoning_correct_rate``: the fraction of the items that carry the flag
      ``correct_strict`` / ``reasoning_correct`` (added by the benchmark) with it set; absent when none does.

    Raises ``ValueError`` on no items, where every rate would be undefined.
    """
    if not items:
        raise ValueError("aggregate() needs at least one scored item.")
    groups: dict[str, list[dict]] = {}
    if group_key is not None:
        for item in items:
            if group_key in item:
                groups.setdefault(str(item[group_key]), []).append(item)
    return {"overall": _metrics(items), "groups": {name: _metrics(groups[name]) for name in sorted(groups)}}
