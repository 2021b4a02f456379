"""Per-item flags, loop detection, reasoning consistency and aggregated metrics (scale_sft.evaluation.scoring)."""

from __future__ import annotations

import random
import time

import pytest
from helpers import score_text

from scale_sft.answers import FREE_TEXT, MULTIPLE_CHOICE, NUMERIC
from scale_sft.evaluation.scoring import aggregate, consistency, find_loop, reasoning_conclusion

COLORS = ["red", "green", "blue"]  # A red, B green, C blue

# --- loops -------------------------------------------------------------------------------------------------


def test_loop_repeated_phrase():
    phrase = [11, 12, 13, 14, 15]
    assert find_loop([1, 2, 3] + phrase * 3 + [4, 5])
    assert not find_loop([1, 2, 3] + phrase * 2 + [4, 5])  # two repeats are not enough


def test_near_loop_is_not_a_loop():
    phrase = [11, 12, 13, 14, 15]
    assert not find_loop(phrase + phrase + [11, 12, 99, 14, 15])  # one token differs in the third copy
    assert not find_loop(phrase + [0] + phrase + [0] + [11, 12, 13, 14])  # not back to back, third cut short


def test_short_period_needs_enough_repeats():
    assert find_loop([7] * 12)  # period 1, i.e. the 4-gram 7777 three times
    assert not find_loop([7] * 11)
    assert find_loop([1, 2] * 6)  # the 4-gram 1212 three times
    assert not find_loop([1, 2] * 5 + [1])


def test_long_period_bounded_by_max_ngram():
    block = list(range(100, 170))  # 70 tokens
    assert not find_loop(block * 3)
    assert find_loop(block * 3, max_ngram=70)


def test_long_non_repeating_text():
    rng = random.Random(0)
    assert not find_loop([rng.randrange(50_000) for _ in range(2048)])
    assert not find_loop(list(range(2048)))
    assert not find_loop([])


def test_loop_arguments_are_checked():
    with pytest.raises(ValueError):
        find_loop([1, 2, 3], min_repeats=1)


# --- reasoning conclusion and consistency ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("think", "answer_type", "conclusion"),
    [
        ("Green has 5 shapes, the most. So the answer is B.", MULTIPLE_CHOICE, "B"),
        ("At first the answer is A. Checking again, the answer is (C) blue, not red.", MULTIPLE_CHOICE, "C"),
        ("Comparing them, the answer is green.", MULTIPLE_CHOICE, "B"),  # choice text after a statement
        ("Green has the most shapes. That is choice B.", MULTIPLE_CHOICE, "B"),
        ("Red and blue are small, green is large. So (B).", MULTIPLE_CHOICE, "B"),
        (
            "Option (A) is out. Red is small. Blue is small. Green is large.",
            MULTIPLE_CHOICE,
            None,
        ),  # too early
        ("There are more green shapes than red shapes.", MULTIPLE_CHOICE, None),  # choice texts are not read
        ("Row 1 has 2 and row 2 has 3, so there are 5 in total.", NUMERIC, "5"),
        ("Row 1 has 2. Row 2 has 3.\nTotal: 5.\nSo the answer is 5.", NUMERIC, "5"),
        ("I count three circles.", NUMERIC, "3"),
        ("The answer is 3 or 4. I am not sure. Let me stop.", NUMERIC, None),  # ambiguous statement
        ("Row 1 has 2. The total is in the image. I am done.", NUMERIC, None),
        ("The animal is large and grey, so the answer is elephant.", FREE_TEXT, "elephant"),
        ("The animal is large and grey.", FREE_TEXT, None),
    ],
)
def test_reasoning_conclusion(think, answer_type, conclusion):
    assert reasoning_conclusion(think, answer_type, COLORS) == conclusion


def test_consistency():
    """The prediction comes in canonical form (a letter, a formatted number), as ``score_item`` passes it."""
    think = "Green has the most shapes. So the answer is B."
    assert consistency(think, "B", MULTIPLE_CHOICE, COLORS) is True
    assert consistency("So the answer is green.", "B", MULTIPLE_CHOICE, COLORS) is True  # text names option B
    assert consistency(think, "A", MULTIPLE_CHOICE, COLORS) is False
    assert consistency(think, None, MULTIPLE_CHOICE, COLORS) is None  # the answer could not be read
    assert consistency("It is hard to tell.", "B", MULTIPLE_CHOICE, COLORS) is None  # no conclusion
    assert consistency(None, "B", MULTIPLE_CHOICE, COLORS) is None
    assert consistency("So the answer is 5.0.", "5", NUMERIC) is True
    assert consistency("So the answer is five.", "6", NUMERIC) is False
    # Through score_item: the answer "green" is read once as B and compared with the conclusion B.
    assert score_text(
        "<think>So the answer is B.</think><answer>green</answer>", "B", MULTIPLE_CHOICE, COLORS
    )["consistent"]


ADVERSARIAL_THINKS = {
    "repeated statement": "the answer is " * 8_000,
    "statement with long clauses": "answer is (maybe " * 6_000,
    "repeated marker": "answer " * 15_000,
    "repeated option": "option b " * 12_000,
    "capitals": "B C " * 25_000,
}


@pytest.mark.parametrize("think", list(ADVERSARIAL_THINKS.values()), ids=list(ADVERSARIAL_THINKS))
@pytest.mark.parametrize("answer_type", [MULTIPLE_CHOICE, NUMERIC, FREE_TEXT])
def test_scoring_is_linear_on_a_100kb_adversarial_think(think, answer_type):
    """A looping generation cannot stall an evaluation: a 100 KB think scores in well under a second of CPU.

    Quadratic scoring took 30 s on 20 KB of repeated "answer is"; CPU time (not wall-clock) keeps the bound
    meaningful on a shared machine."""
    assert len(think) >= 90_000
    generation = f"<think>{think}</think><answer>{think[:2_000]}</answer>"
    choices = COLORS if answer_type == MULTIPLE_CHOICE else None
    gold = "B" if answer_type == MULTIPLE_CHOICE else "5" if answer_type == NUMERIC else "blue"
    started = time.process_time()
    reasoning_conclusion(think, answer_type, choices)
    score_text(generation, gold, answer_type, choices, token_ids=list(range(100)))
    assert time.process_time() - started < 1.0


# --- items and aggregate -----------------------------------------------------------------------------------


def test_score_item_flags():
    item = score_text(
        "<think>Row 1 has 3, so the answer is 3.</think>\n<answer>3 cars</answer>",
        "3",
        NUMERIC,
        [],
        think_tokens=12,
        answer_tokens=5,
        token_ids=list(range(17)),
    )
    assert item == {
        "prediction": "3",
        "extracted": True,
        "correct": True,
        "malformed": False,
        "unfinished": False,
        "loop": False,
        "consistent": True,
        "think_tokens": 12,
        "answer_tokens": 5,
        "anls": None,
    }
    # Stopped at max_new_tokens with the answer block open: reasoning finished, so not unfinished.
    cut = score_text("<think>x</think><answer>B", "B", MULTIPLE_CHOICE, COLORS, 3, 2, True, [1, 2, 3, 4, 5])
    assert (cut["malformed"], cut["unfinished"], cut["extracted"], cut["correct"]) == (
        True,
        False,
        False,
        False,
    )
    still_thinking = score_text("<think>x y z", "B", MULTIPLE_CHOICE, COLORS, 3, 0, True)
    assert still_thinking["unfinished"] and still_thinking["malformed"]
    text = score_text("<think>x</think><answer>Kitten</answer>", "sitting", FREE_TEXT, [], 3, 3)
    assert text["correct"] is False and text["anls"] == pytest.approx(1 - 3 / 7)
    assert score_text("<think>x</think><answer>Sitting.</answer>", "sitting", FREE_TEXT)["correct"]


def scored(qtype: str, generation: str, gold: str, think: int, answer: int, hit_max=False, ids=None) -> dict:
    """A scored item: "color" questions are multiple choice over COLORS, "count" questions numeric."""
    answer_type, choices = (MULTIPLE_CHOICE, COLORS) if qtype == "color" else (NUMERIC, [])
    ids = list(range(think + answer)) if ids is None else ids
    item = score_text(generation, gold, answer_type, choices, think, answer, hit_max, ids)
    return {**item, "question_type": qtype}


def scored_items() -> list[dict]:
    """Eight hand-written predictions; the comment gives each one's flags."""
    return [
        # 1. correct, consistent
        scored(
            "count",
            "<think>Row 1 has 2, row 2 has 3. So the answer is 5.</think>\n<answer>5</answer>",
            "5",
            20,
            5,
        ),
        # 2. wrong, inconsistent (reasoning says 4, answer 3)
        scored(
            "count", "<think>I count 4 circles. So the answer is 4.</think>\n<answer>3</answer>", "4", 12, 5
        ),
        # 3. looping until max_new_tokens: unfinished, malformed, loop, consistency undecidable
        scored(
            "count",
            "<think>Row 1 has 1 circle. Row 1 has 1 circle. Row 1 has 1 circle. Row 1 has",
            "7",
            30,
            0,
            hit_max=True,
            ids=[1, 2, 3, 4, 5] * 6,
        ),
        # 4. number word, correct; the conclusion is read from the last sentence ("Two") -> consistent
        scored("count", "<think>Two circles.</think><answer>two</answer>", "2", 6, 4),
        # 5. correct, consistent via "choice B"
        scored(
            "color",
            "<think>Green has the most shapes. That is choice B.</think>\n<answer>B</answer>",
            "B",
            14,
            4,
        ),
        # 6. wrong, inconsistent (reasoning C, answer A)
        scored("color", "<think>Blue wins, so the answer is C.</think>\n<answer>A</answer>", "C", 10, 4),
        # 7. correct, no conclusion in the reasoning -> consistency undecidable
        scored("color", "<think>Hard to tell.</think>\n<answer>A</answer>", "A", 5, 4),
        # 8. answer block never closed (stopped at EOS): malformed, not unfinished, not extracted
        scored("color", "<think>The answer is B.</think>\n<answer>B", "B", 6, 3),
    ]


def test_item_flags_of_the_hand_written_set():
    items = scored_items()
    assert [i["correct"] for i in items] == [True, False, False, True, True, False, True, False]
    assert [i["malformed"] for i in items] == [False, False, True, False, False, False, False, True]
    assert [i["unfinished"] for i in items] == [False, False, True, False, False, False, False, False]
    assert [i["loop"] for i in items] == [False, False, True, False, False, False, False, False]
    assert [i["consistent"] for i in items] == [True, False, None, True, True, False, None, None]


def test_aggregate_by_hand():
    result = aggregate(scored_items())
    # Overall, n = 8: correct 1,4,5,7 -> 4/8; extracted all but 3 and 8 -> 6/8; malformed 3,8 -> 2/8;
    # unfinished 3 -> 1/8; loop 3 -> 1/8; decidable 1,2,4,5,6 of which 1,4,5 consistent -> 3/5.
    # think tokens sorted [5, 6, 6, 10, 12, 14, 20, 30]: mean 103/8 = 12.875, median (10+12)/2 = 11,
    # p90 = sorted[ceil(0.9*8) - 1] = sorted[7] = 30. Answer tokens sorted [0, 3, 4, 4, 4, 4, 5, 5]:
    # mean 29/8 = 3.625, median (4+4)/2 = 4, p90 = sorted[7] = 5.
    assert result["overall"] == {
        "n": 8,
        "accuracy": 0.5,
        "extracted_rate": 0.75,
        "malformed_rate": 0.25,
        "unfinished_rate": 0.125,
        "loop_rate": 0.125,
        "consistency_rate": 0.6,
        "consistency_n": 5,
        "anls_mean": None,
        "anls_n": 0,
        "think_tokens_mean": 12.875,
        "think_tokens_median": 11.0,
        "think_tokens_p90": 30,
        "answer_tokens_mean": 3.625,
        "answer_tokens_median": 4.0,
        "answer_tokens_p90": 5,
    }
    assert list(result["groups"]) == ["color", "count"]
    # count (items 1-4): correct 1,4 -> 2/4; extracted 1,2,4 -> 3/4; malformed, unfinished, loop: item 3 -> 1/4;
    # decidable 1,2,4, consistent 1,4 -> 2/3. Think [6, 12, 20, 30]: mean 17, median 16, p90 sorted[3] = 30.
    # Answer [0, 4, 5, 5]: mean 3.5, median 4.5, p90 5.
    assert result["groups"]["count"] == {
        "n": 4,
        "accuracy": 0.5,
        "extracted_rate": 0.75,
        "malformed_rate": 0.25,
        "unfinished_rate": 0.25,
        "loop_rate": 0.25,
        "consistency_rate": 2 / 3,
        "consistency_n": 3,
        "anls_mean": None,
        "anls_n": 0,
        "think_tokens_mean": 17.0,
        "think_tokens_median": 16.0,
        "think_tokens_p90": 30,
        "answer_tokens_mean": 3.5,
        "answer_tokens_median": 4.5,
        "answer_tokens_p90": 5,
    }
    # color (items 5-8): correct 5,7 -> 2/4; extracted 5,6,7 -> 3/4; malformed 8 -> 1/4; no unfinished or loop;
    # decidable 5,6, consistent 5 -> 1/2. Think [5, 6, 10, 14]: mean 8.75, median 8, p90 14.
    # Answer [3, 4, 4, 4]: mean 3.75, median 4, p90 4.
    assert result["groups"]["color"] == {
        "n": 4,
        "accuracy": 0.5,
        "extracted_rate": 0.75,
        "malformed_rate": 0.25,
        "unfinished_rate": 0.0,
        "loop_rate": 0.0,
        "consistency_rate": 0.5,
        "consistency_n": 2,
        "anls_mean": None,
        "anls_n": 0,
        "think_tokens_mean": 8.75,
        "think_tokens_median": 8.0,
        "think_tokens_p90": 14,
        "answer_tokens_mean": 3.75,
        "answer_tokens_median": 4.0,
        "answer_tokens_p90": 4,
    }


def test_aggregate_p90_nearest_rank():
    items = [{**scored_items()[0], "think_tokens": t} for t in range(1, 11)]  # 1..10
    assert aggregate(items, group_key=None)["overall"]["think_tokens_p90"] == 9  # sorted[ceil(9) - 1]
    items.append({**items[0], "think_tokens": 11})
    assert aggregate(items, group_key=None)["overall"]["think_tokens_p90"] == 10  # sorted[ceil(9.9) - 1]


def test_aggregate_grouping_and_empty_input():
    items = scored_items()
    assert aggregate(items, group_key=None)["groups"] == {}
    del items[0]["question_type"]
    result = aggregate(items)
    assert result["overall"]["n"] == 8 and result["groups"]["count"]["n"] == 3  # counted overall only
    consistency_none = [{**item, "consistent": None} for item in items]
    overall = aggregate(consistency_none)["overall"]
    assert (overall["consistency_rate"], overall["consistency_n"]) == (None, 0)
    with pytest.raises(ValueError, match="at least one"):
        aggregate([])


def test_aggregate_rates_of_benchmark_flags():
    """``correct_strict`` and ``reasoning_correct`` become rates over the items that carry them, and only then."""
    items = scored_items()  # 0-3 count, 4-7 color
    assert "accuracy_strict" not in aggregate(items)["overall"]
    for item, strict in zip(items, [True, False, False, False, True, False, False, False], strict=True):
        item["correct_strict"] = strict
    for item, judged in zip(items[4:7], [True, False, True], strict=True):
        item["reasoning_correct"] = judged
    result = aggregate(items)
    assert result["overall"]["accuracy_strict"] == 2 / 8
    assert result["groups"]["count"]["accuracy_strict"] == 1 / 4
    assert result["overall"]["reasoning_correct_rate"] == 2 / 3  # over the 3 judged items
    assert result["groups"]["color"]["reasoning_correct_rate"] == 2 / 3
    assert "reasoning_correct_rate" not in result["groups"]["count"]


# --- THINK/ANSWER split of a generation --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "split"),
    [
        ("<think>ab</think><answer>c</answer>", 17),  # the end of </think>
        ("<think>a</think>b</think>c", 16),  # the first </think>
        ("<think>still reasoning", 22),  # unclosed: all THINK
        ("<answer>B</answer>", 0),  # no think tag: all ANSWER
        ("reasoning</think>B", 17),  # a stray </think> still ends THINK
        ("", 0),
    ],
)
def test_generation_split(text, split):
    from scale_sft.segments import generation_split

    assert generation_split(text) == split


def test_segment_lengths_follow_generation_split(qwen_processor):
    from scale_sft.evaluation.generate import segment_lengths

    tokenizer = qwen_processor.tokenizer
    for text in ("<think>two shapes</think>\n<answer>2</answer>", "<think>two shapes", "<answer>2</answer>"):
        total = len(tokenizer(text, add_special_tokens=False)["input_ids"])
        think, answer = segment_lengths(tokenizer, text)
        assert think + answer == total
        assert (think == total) == text.endswith("shapes") and (think == 0) == text.startswith("<answer>")
