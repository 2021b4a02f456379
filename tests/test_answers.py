"""Answer extraction and matching on realistic model outputs (scale_sft.answers)."""

from __future__ import annotations

import random
import re
import sys
from typing import NamedTuple

import pytest

from scale_sft.answers import (
    ANLS,
    FREE_TEXT,
    MULTIPLE_CHOICE,
    NUMERIC,
    Gold,
    GoldError,
    extract_answer,
    is_correct,
    last_boxed,
    normalize_answer,
    normalize_choice,
    normalize_number,
    parse_generation,
    read_gold,
    validate_gold,
)
from scale_sft.evaluation.scoring import anls, levenshtein
from scale_sft.tags import DEFAULT_TAGS, CotTags

COLORS = ["red", "green", "blue"]  # A red, B green, C blue
CUSTOM = CotTags("<reasoning>", "</reasoning>", "<final>", "</final>")
T = "<think>I count the shapes of each colour.</think>\n"


class Case(NamedTuple):
    generation: str
    gold: str
    answer_type: str
    correct: bool
    malformed: bool = False
    choices: list[str] | None = None
    tags: CotTags = DEFAULT_TAGS


def mc(generation: str, gold: str, correct: bool, malformed: bool = False, choices=None) -> Case:
    return Case(generation, gold, MULTIPLE_CHOICE, correct, malformed, choices or COLORS)


CASES = {
    # Multiple choice: letter shapes.
    "letter": mc(T + "<answer>B</answer>", "B", True),
    "padded letter": mc(T + "<answer> B </answer>", "B", True),
    "lowercase letter": mc(T + "<answer>b</answer>", "B", True),
    "letter dot": mc(T + "<answer>B.</answer>", "B", True),
    "bracketed": mc(T + "<answer>(B)</answer>", "B", True),
    "letter paren": mc(T + "<answer>B)</answer>", "B", True),
    "letter paren text": mc(T + "<answer>B) green</answer>", "B", True),
    "letter dot text": mc(T + "<answer>B. green</answer>", "B", True),
    "option": mc(T + "<answer>Option B</answer>", "B", True),
    "option lowercase bracketed": mc(T + "<answer>option (b)</answer>", "B", True),
    "the answer is": mc(T + "<answer>The answer is B</answer>", "B", True),
    "answer colon": mc(T + "<answer>Answer: B</answer>", "B", True),
    "answer is letter and text": mc(T + "<answer>The answer is (C) blue.</answer>", "C", True),
    "answer with because": mc(T + "<answer>The answer is B because green covers most.</answer>", "B", True),
    "markdown bold": mc(T + "<answer>**B**</answer>", "B", True),
    "boxed": mc(T + "<answer>\\boxed{B}</answer>", "B", True),
    "fullwidth letter": mc(T + "<answer>\uff22</answer>", "B", True),
    "choice text": mc(T + "<answer>green</answer>", "B", True),
    "choice text capitalised": mc(T + "<answer>Green.</answer>", "B", True),
    "choice text in sentence": mc(T + "<answer>It is green.</answer>", "B", True),
    "wrong letter": mc(T + "<answer>C</answer>", "B", False),
    "wrong choice text": mc(T + "<answer>red</answer>", "B", False),
    "two letters": mc(T + "<answer>B or C</answer>", "B", False),
    "hedge in lowercase": mc(T + "<answer>b. or c.</answer>", "B", False),
    "hedge in brackets": mc(T + "<answer>B (or maybe c)</answer>", "B", False),
    "two bracketed letters": mc(T + "<answer>(B) and (C)</answer>", "B", False),
    "letter contradicts text": mc(T + "<answer>B. red</answer>", "B", False),
    "text of no choice": mc(T + "<answer>purple</answer>", "B", False),
    "letter out of range": mc(T + "<answer>E</answer>", "B", False),
    "capital inside a sentence": mc(T + "<answer>I pick B</answer>", "B", False),
    "article is not a letter": mc(T + "<answer>a cat</answer>", "B", True, choices=["dog", "cat"]),
    "article choice text": mc(T + "<answer>a cat</answer>", "B", True, choices=["a dog", "a cat"]),
    "lone lowercase a": mc(T + "<answer>a</answer>", "A", True, choices=["dog", "cat"]),
    # Multiple choice: block structure.
    "no answer block": mc("<think>So the answer is B.</think>", "B", False, malformed=True),
    "missing close tag": mc(T + "<answer>B", "B", False, malformed=True),
    "missing open tag": mc(T + "B</answer>", "B", False, malformed=True),
    "two answer blocks, last wins": mc(T + "<answer>A</answer> Wait, no.\n<answer>B</answer>", "B", True),
    "two answer blocks, last wrong": mc(T + "<answer>B</answer>\n<answer>A</answer>", "B", False),
    # The answer is read after the reasoning only: an answer block before or inside the think block is none.
    "answer before think": mc("<answer>B</answer>\n<think>Green is the largest.</think>", "B", False, True),
    "answer inside think": mc("<think>So <answer>B</answer>, surely.</think>\nDone.", "B", False, True),
    "answer inside think, other after": mc(
        "<think>x <answer>B</answer></think><answer>C</answer>", "B", False
    ),
    "junk then answer before think": mc(
        "Sure! <answer>B</answer> Let me think. <think>x</think>", "B", False, True
    ),
    "think never closed": mc("<think>Green, so <answer>B</answer>", "B", False, True),
    "empty answer": mc(T + "<answer></answer>", "B", False),
    "newlines inside answer": mc(T + "<answer>\nB\n</answer>", "B", True),
    "unicode whitespace": mc(T + "<answer>\u00a0B\u2003</answer>", "B", True),
    "text after answer": mc(T + "<answer>B</answer>\nI hope this helps!", "B", True),
    "no think at all": mc("<answer>B</answer>", "B", True),
    # Numeric.
    "integer": Case(T + "<answer>3</answer>", "3", NUMERIC, True),
    "decimal vs integer gold": Case(T + "<answer>3.0</answer>", "3", NUMERIC, True),
    "padded number": Case(T + "<answer> 3 </answer>", "3", NUMERIC, True),
    "number word": Case(T + "<answer>three</answer>", "3", NUMERIC, True),
    "compound number word": Case(T + "<answer>Twenty-one</answer>", "21", NUMERIC, True),
    "number with unit": Case(T + "<answer>3 cars</answer>", "3", NUMERIC, True),
    "number in sentence": Case(T + "<answer>There are 3 cars.</answer>", "3", NUMERIC, True),
    "answer is number": Case(T + "<answer>The answer is 7.</answer>", "7", NUMERIC, True),
    "negative": Case(T + "<answer>-2</answer>", "-2", NUMERIC, True),
    "thousands comma": Case(T + "<answer>1,000</answer>", "1000", NUMERIC, True),
    "trailing zero": Case(T + "<answer>3.50</answer>", "3.5", NUMERIC, True),
    "currency": Case(T + "<answer>$12</answer>", "12", NUMERIC, True),
    "decimal": Case(T + "<answer>2.5</answer>", "2.5", NUMERIC, True),
    "decimal vs other integer": Case(T + "<answer>2.5</answer>", "2", NUMERIC, False),
    "wrong number": Case(T + "<answer>4</answer>", "3", NUMERIC, False),
    "two numbers": Case(T + "<answer>3 or 4</answer>", "3", NUMERIC, False),
    "comma list is two numbers": Case(T + "<answer>1,2</answer>", "12", NUMERIC, False),
    "no number": Case(T + "<answer>none</answer>", "0", NUMERIC, False),
    "exponent is not its mantissa": Case(T + "<answer>3e5</answer>", "3", NUMERIC, False),
    "exponent read as its value": Case(T + "<answer>3e5</answer>", "300000", NUMERIC, True),
    "scale word": Case(T + "<answer>three hundred</answer>", "3", NUMERIC, False),
    "scale word read": Case(T + "<answer>3 million</answer>", "3000000", NUMERIC, True),
    "number unfinished": Case("<think>Row 1 has 3, row 2 has", "3", NUMERIC, False, malformed=True),
    # Free text and ANLS (correct is normalised exact match for both).
    "text case": Case(T + "<answer>Blue Whale</answer>", "blue whale", FREE_TEXT, True),
    "text spaces and period": Case(T + "<answer>blue  whale.</answer>", "blue whale", FREE_TEXT, True),
    "text answer phrase": Case(
        T + "<answer>The answer is blue whale.</answer>", "blue whale", FREE_TEXT, True
    ),
    "text punctuation": Case(T + "<answer>U.S.A.</answer>", "USA", FREE_TEXT, True),
    "text partial": Case(T + "<answer>whale</answer>", "blue whale", FREE_TEXT, False),
    "anls exact": Case(T + "<answer>Hello World</answer>", "hello world", ANLS, True),
    "anls typo is not correct": Case(T + "<answer>helo world</answer>", "hello world", ANLS, False),
    # Custom tags.
    "custom tags": Case(
        "<reasoning>Green.</reasoning><final>B</final>",
        "B",
        MULTIPLE_CHOICE,
        True,
        choices=COLORS,
        tags=CUSTOM,
    ),
    "default tags under custom": Case(
        T + "<answer>B</answer>", "B", MULTIPLE_CHOICE, False, malformed=True, choices=COLORS, tags=CUSTOM
    ),
}


def test_table_is_large_and_covers_every_type():
    assert len(CASES) >= 45
    assert {case.answer_type for case in CASES.values()} == {MULTIPLE_CHOICE, NUMERIC, FREE_TEXT, ANLS}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_model_outputs(case: Case):
    parsed = parse_generation(case.generation, case.tags)
    assert parsed.malformed is case.malformed
    assert is_correct(parsed.answer, case.gold, case.answer_type, case.choices) is case.correct


def test_parse_generation_blocks():
    parsed = parse_generation(
        "<think> first </think><think>second</think>\n<answer> A </answer>x<answer>C</answer>"
    )
    assert (parsed.think, parsed.answer, parsed.malformed) == ("first", "C", False)
    # Reasoning is only read from a complete block: no opening tag, or no closing tag, gives None.
    assert parse_generation("reasoning</think><answer>A</answer>").think is None
    assert parse_generation("<think>reasoning <answer>A</answer>").think is None
    # An unclosed answer before a complete one does not swallow it.
    assert extract_answer("<answer>A <answer>B</answer>") == "B"
    assert extract_answer("<answer>A</answer> stray </answer>") == "A"
    assert extract_answer("<answer></answer>") == ""
    assert extract_answer("no tags") is None
    assert extract_answer("<final>7</final>", CUSTOM) == "7"
    # The answer is read after the first </think> only.
    assert extract_answer("<think>x <answer>B</answer></think><answer>C</answer>") == "C"
    assert extract_answer("<think>So <answer>B</answer>, surely.</think>\nDone.") is None


@pytest.mark.parametrize(
    ("pred", "letter"),
    [
        ("B", "B"),
        ("b", "B"),
        ("B.", "B"),
        ("(B)", "B"),
        ("B)", "B"),
        ("B) green", "B"),
        ("B. green", "B"),
        ("Option B", "B"),
        ("option (b)", "B"),
        ("The answer is B", "B"),
        ("Answer: B", "B"),
        ("green", "B"),
        ("So the final answer is C.", "C"),
        ("[c]", "C"),
        ("B is correct", "B"),
        ("The answer is B because A is red", "B"),
        ("B and C", None),
        ("b. or c.", None),
        ("B (or maybe c)", None),
        ("B, or a.", None),
        ("B. It is a cat.", "B"),
        ("B, not C", None),
        ("A or B", None),
        ("(A) (B)", None),
        ("green or blue", None),
        ("I think so", None),
        ("", None),
        ("D", None),
    ],
)
def test_normalize_choice(pred, letter):
    assert normalize_choice(pred, COLORS) == letter


def test_normalize_choice_without_choices_reads_only_letters():
    assert normalize_choice("(E)", None) == "E"
    assert normalize_choice("green", None) is None


def test_normalize_choice_nested_choice_texts():
    choices = ["blue", "dark blue"]
    assert normalize_choice("It is dark blue.", choices) == "B"
    assert normalize_choice("blue", choices) == "A"


@pytest.mark.parametrize(
    ("pred", "value"),
    [
        ("3", 3.0),
        ("3.0", 3.0),
        (" 3 ", 3.0),
        ("three", 3.0),
        ("3 cars", 3.0),
        ("-2", -2.0),
        ("\u22122", -2.0),
        ("1,000", 1000.0),
        ("3.50", 3.5),
        ("2.5", 2.5),
        ("zero", 0.0),
        ("Ninety", 90.0),
        ("forty two", 42.0),
        ("3 (three)", 3.0),
        (".5", 0.5),
        ("3e5", 300000.0),
        ("3E-2", 0.03),
        ("three hundred", 300.0),
        ("3 million", 3e6),
        ("2.5 billion", 2.5e9),
        ("1.1 million", 1_100_000.0),  # exact, not 1.1 * 1e6
        ("twenty-one thousand", 21000.0),
        ("10kg", 10.0),
        ("the 3rd", 3.0),
        ("50%", 50.0),
        ("3k", None),  # a magnitude, not a unit: unreadable rather than 3
        ("3x", None),
        ("3bn", None),
        ("3.5.1", None),
        ("1,2", None),
        ("1e400", None),  # overflows
        ("1e-400", None),  # underflows: not 0
        ("a hundred", None),
        ("three hundred and five", None),  # 300 and 5: not read as either
        ("3-4", None),
        ("3 or 4", None),
        ("three or 4", None),
        ("none", None),
        ("", None),
    ],
)
def test_normalize_number(pred, value):
    assert normalize_number(pred) == value


def test_normalize_answer_canonical_forms():
    assert normalize_answer("3.0", NUMERIC) == "3"
    assert normalize_answer("2.50", NUMERIC) == "2.5"
    assert normalize_answer(" The answer is Blue Whale! ", FREE_TEXT) == "blue whale"
    assert normalize_answer("...", FREE_TEXT) is None
    assert normalize_answer(None, NUMERIC) is None
    with pytest.raises(ValueError, match="answer_type"):
        normalize_answer("3", "yes_no")


def test_is_correct_edge_cases():
    assert is_correct(None, "B", MULTIPLE_CHOICE, COLORS) is False
    assert is_correct("blue", "blue", MULTIPLE_CHOICE, COLORS) is True  # a gold given as the choice text
    with pytest.raises(ValueError, match="cannot be read as numeric"):
        is_correct("3", "many", NUMERIC)


GOLD_FAULTS = [
    ({"answer": "many", "answer_type": NUMERIC}, "gold answer 'many' cannot be read as numeric"),
    ({"answer": "D", "answer_type": MULTIPLE_CHOICE, "choices": COLORS}, "cannot be read as multiple_choice"),
    ({"answer": "purple", "answer_type": MULTIPLE_CHOICE, "choices": COLORS}, "cannot be read"),
    ({"answer": "...", "answer_type": FREE_TEXT}, "cannot be read as free_text"),
    ({"answer": True, "answer_type": NUMERIC}, "answer True is neither a non-empty string nor a number"),
    ({"answer": float("nan"), "answer_type": NUMERIC}, "answer nan is neither"),
    ({"answer": "  ", "answer_type": FREE_TEXT}, "is neither a non-empty string"),
    ({"answer_type": FREE_TEXT}, "answer None is neither a non-empty string nor a number"),
    ({"answer": "B", "answer_type": "yes_no"}, "answer_type 'yes_no' is not one of"),
    ({"answer": "B"}, "answer_type None is not one of"),
    ({"answer": "B", "answer_type": MULTIPLE_CHOICE, "choices": "ab"}, "are not a list of strings"),
    ({"answer": "B", "answer_type": MULTIPLE_CHOICE, "choices": ["a", 2]}, "are not a list of strings"),
    (
        {"answer": "B", "answer_type": MULTIPLE_CHOICE, "choices": list("abcdefghijk")},
        "11 choices, more than",
    ),
]


@pytest.mark.parametrize(("record", "reason"), GOLD_FAULTS)
def test_validate_gold_names_the_fault(record, reason):
    with pytest.raises(GoldError, match=re.escape(reason)) as raised:
        read_gold(record)
    assert validate_gold(record) == raised.value.reason  # the category skips are counted under
    assert str(raised.value).startswith(raised.value.reason + ": ")


def test_gold_numbers_read_exactly():
    assert read_gold({"answer": "3e2", "answer_type": NUMERIC}).target == "300"
    assert is_correct("300", "3e2", NUMERIC) and not is_correct("3", "3e2", NUMERIC)
    assert not is_correct("3e5", "3", NUMERIC)
    assert not is_correct("three hundred", "3", NUMERIC) and not is_correct("3 million", "3", NUMERIC)
    with pytest.raises(GoldError, match="cannot be read as numeric"):
        read_gold({"answer": "3k", "answer_type": NUMERIC})


def test_json_number_golds_are_scored():
    assert read_gold({"answer": 3, "answer_type": NUMERIC}) == Gold("3", NUMERIC, None, "3")
    assert read_gold({"answer": 2.5, "answer_type": NUMERIC}).target == "2.5"
    assert validate_gold({"answer": 3, "answer_type": NUMERIC}) is None
    assert is_correct("three", 3, NUMERIC) and not is_correct("4", 3, NUMERIC)
    with pytest.raises(GoldError, match="1 is a number, not an option letter"):
        read_gold({"answer": 1, "answer_type": MULTIPLE_CHOICE, "choices": ["0", "1"]})  # an index?


def test_read_gold_canonical_target():
    assert read_gold({"answer": "green", "answer_type": MULTIPLE_CHOICE, "choices": COLORS}).target == "B"
    assert read_gold({"answer": "3.0", "answer_type": NUMERIC, "choices": []}) == Gold(
        "3.0", NUMERIC, None, "3"
    )
    assert read_gold({"answer": "J", "answer_type": MULTIPLE_CHOICE, "choices": None}).target == "J"
    assert (
        validate_gold({"answer": "K", "answer_type": MULTIPLE_CHOICE, "choices": None}) is not None
    )  # 10 letters
    assert validate_gold({"answer": "Blue Whale!", "answer_type": ANLS, "id": "x"}) is None


def test_levenshtein_by_hand():
    assert levenshtein("kitten", "sitting") == 3  # k->s, e->i, +g
    assert levenshtein("", "abc") == 3
    assert levenshtein("abc", "abc") == 0
    assert levenshtein("flaw", "lawn") == 2  # -f, +n


def _table_distance(a: str, b: str) -> int:
    """The textbook dynamic-programming table, row by row: the oracle for the bit-parallel version."""
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, start=1):
        previous_diagonal, row[0] = row[0], i
        for j, cb in enumerate(b, start=1):
            previous_diagonal, row[j] = (
                row[j],
                min(row[j] + 1, row[j - 1] + 1, previous_diagonal + (ca != cb)),
            )
    return row[-1]


def test_levenshtein_matches_the_table_on_random_pairs():
    rng = random.Random(0)
    for _ in range(300):  # lengths past 64 cross a machine word in the bit vectors
        a = "".join(rng.choice("abc") for _ in range(rng.randint(0, 90)))
        b = "".join(rng.choice("abcd") for _ in range(rng.randint(0, 90)))
        assert levenshtein(a, b) == levenshtein(b, a) == _table_distance(a, b)


def test_levenshtein_steps_grow_linearly_not_quadratically():
    """Counts the lines levenshtein executes (a load-proof measure, unlike a timing): the quadratic table needs
    about len(a) * len(b) of them, this one a few per character of the longer text."""
    a, b = "ab" * 1000, "ba" * 1000
    bound, steps = 20 * (len(a) + len(b)), 0

    def count_lines(frame, event, arg):
        nonlocal steps
        steps += 1
        if steps > bound:
            raise RuntimeError(f"levenshtein executed more than {bound} lines on two 2,000-character texts")
        return count_lines

    sys.settrace(lambda frame, event, arg: count_lines if frame.f_code is levenshtein.__code__ else None)
    try:
        distance = levenshtein(a, b)
    finally:
        sys.settrace(None)
    assert distance == 2  # drop the leading a, append an a


def test_anls_of_long_texts():
    gold = "x" * 20_000
    assert anls(gold + "a", gold + "b") == pytest.approx(1 - 1 / 20_001)


@pytest.mark.parametrize(
    ("pred", "gold", "score"),
    [
        ("hello world", "hello world", 1.0),
        ("  Hello   World ", "hello world", 1.0),  # case and whitespace are normalised
        ("kitten", "sitting", 1 - 3 / 7),  # 0.571 >= 0.5
        ("abc", "abd", 1 - 1 / 3),
        ("ab", "ax", 0.5),  # exactly at the threshold: kept
        ("abc", "xyc", 0.0),  # 1 - 2/3 = 0.33 < 0.5
        ("abcd", "wxyz", 0.0),
        ("U.S.A", "USA", 1 - 2 / 5),  # punctuation is kept: two deletions over length 5
        ("", "", 1.0),
        ("abcdef", "abc", 0.5),  # the length difference alone allows 0.5: computed, and kept
        ("abcdefg", "abc", 0.0),  # the length difference alone rules out 0.5
        ("x" * 100_000, "abc", 0.0),  # ruled out without an edit-distance table
    ],
)
def test_anls_by_hand(pred, gold, score):
    assert anls(pred, gold) == pytest.approx(score)


# ---------------------------------------------------------------------------------------------------------
# The "boxed" answer format (DeepSeek-R1 traces: <think>..</think> then \boxed{}, answer tags optional).


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("\\boxed{5}", "5"),
        ("\\boxed{1} then \\boxed{2}", "2"),  # the last one
        (
            "\\boxed{\\frac{1}{2}} and \\boxed{3",
            "\\frac{1}{2}",
        ),  # nested braces kept; an unclosed one ignored
        ("\\boxed {7}", "7"),
        ("{\\boxed{4}}", "4"),
        ("no box", None),
        ("\\boxed{", None),
    ],
)
def test_last_boxed(text, answer):
    assert last_boxed(text) == answer


@pytest.mark.parametrize(
    ("text", "think", "answer"),
    [
        ("<think>\n2 + 3 = 5.\n</think>\n\nThe answer is $\\boxed{5}$.", "2 + 3 = 5.", "5"),
        ("<think>maybe \\boxed{4}</think> so \\boxed{5}", "maybe \\boxed{4}", "5"),  # after the reasoning
        ("<think>maybe \\boxed{4}</think> no final answer", "maybe \\boxed{4}", None),  # not read from inside
        ("<think>still reasoning \\boxed{4}", None, None),  # never closed: no answer yet
        ("The answer is \\boxed{6}.", None, "6"),  # no think tags: a direct answer
        ("<think>x</think><answer>7</answer> \\boxed{5}", "x", "7"),  # answer tags win when present
        ("<think>x</think> <answer>\\boxed{8}</answer>", "x", "\\boxed{8}"),
    ],
)
def test_parse_generation_boxed(text, think, answer):
    parsed = parse_generation(text, answer_format="boxed")
    assert (parsed.think, parsed.answer) == (think, answer)
    assert parsed.malformed is (answer is None)
    assert extract_answer(text, answer_format="boxed") == answer


def test_boxed_format_is_explicit():
    text = "<think>x</think> \\boxed{5}"
    assert parse_generation(text).malformed  # the default "tags" format never reads \boxed{}
    assert not parse_generation(text, answer_format="boxed").malformed
    with pytest.raises(ValueError, match="answer_format"):
        parse_generation(text, answer_format="latex")


def test_boxed_answers_score_with_the_common_metrics():
    from scale_sft.evaluation.scoring import Generation, score_item

    gold = read_gold({"answer": "5", "answer_type": NUMERIC})
    cases = {
        "<think>\n2 + 3 = 5.\nSo the answer is 5.\n</think>\n\n$\\boxed{5}$": (True, False, True),
        "<think>\nSo the answer is 5.\n</think>\n\n$\\boxed{6}$": (False, False, False),
        "<think>\nSo the answer is 5.": (False, True, None),
    }
    for text, (correct, malformed, consistent) in cases.items():
        generation = Generation(text, [], 0, 0, hit_max_new_tokens="</think>" not in text)
        item = score_item(parse_generation(text, answer_format="boxed"), gold, generation)
        assert (item["correct"], item["malformed"], item["consistent"]) == (correct, malformed, consistent)
        assert item["unfinished"] is ("</think>" not in text)


@pytest.mark.parametrize(
    ("text", "answer"),
    [
        ("1. 11 - 7 = 4.\n\nSo, Mia has 12 books now.", "12"),  # the last number, not the right one
        ("<think>2 + 2 = 4</think> It is 3 or 5 cars.", "5"),  # after the reasoning only
        ("<think>2 + 2 = 4</think> no number", None),
        ("<think>2 + 2 = 4</think><answer>7</answer> then 9", "7"),  # an answer block wins
        ("<think>x</think> \\boxed{6}, not 8", "6"),  # then the last box
        ("It costs 2,500.00 dollars", "2500"),  # spelled canonically
        ("About 3k of them", None),  # the last number cannot be read exactly: no answer, not the one before
        ("<think>still 4", None),  # never closed: no answer yet
    ],
)
def test_parse_generation_last_number(text, answer):
    assert extract_answer(text, answer_format="last_number") == answer
    assert parse_generation(text, answer_format="last_number").malformed is (answer is None)


def test_last_number_format_is_explicit():
    text = "So, Mia has 4 books now."
    assert extract_answer(text) is None and extract_answer(text, answer_format="boxed") is None
    assert is_correct(extract_answer(text, answer_format="last_number"), "4", NUMERIC)
