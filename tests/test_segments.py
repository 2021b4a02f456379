"""Segment labelling: the tag rules, and token-by-token ids on the tiny Qwen2.5-VL processor."""

import copy

import datasets
import pytest
import torch
from helpers import collate_rows
from PIL import Image

from scale_sft.data.format import assistant_message, cot_completion, user_message
from scale_sft.data.prepare import prepare_dataset
from scale_sft.segments import (
    ANSWER,
    IGNORE,
    NEAR_MISS_TAG,
    THINK,
    MalformedSampleError,
    SampleSpans,
    answer_start,
    segment_ids_from_offsets,
)
from scale_sft.sft.collator import ScaleSFTCollator
from scale_sft.tags import CotTags

# ---------------------------------------------------------------- tag rules (the README design decisions)


@pytest.mark.parametrize(
    ("completion", "split"),
    [
        ("<think>a</think><answer>B</answer>", len("<think>a</think>")),
        ("<think>\na\n</think>\nThe answer is 3.", len("<think>\na\n</think>")),  # plain answer, no tags
        ("<answer>3</answer>", 0),  # direct answer
        ("3", 0),
        ("Let me see. <think>a</think> 3", len("Let me see. <think>a</think>")),
    ],
)
def test_answer_start(completion, split):
    assert answer_start(completion) == split


@pytest.mark.parametrize(
    ("completion", "reason"),
    [
        ("<think>reasoning without end <answer>3</answer>", "only one think tag"),
        ("reasoning</think><answer>3</answer>", "only one think tag"),
        ("</think>x<think><answer>3</answer>", "out of order"),
        ("<think>a</think>  \n", "nothing after"),
        ("<think>a</think><think>b</think><answer>3</answer>", "several think blocks"),
        ("<think>a</think><answer>3", "answer tags"),
        ("<think>a</think></answer>3<answer>", "answer tags"),
        ("<think>a <answer>2</answer></think>x", "answer tag inside"),
        ("<think>a </answer></think><answer>2</answer>", "answer tag inside"),
        ("<THINK>a</THINK><answer>3</answer>", NEAR_MISS_TAG),
        ("< think >a< /think ><answer>3</answer>", NEAR_MISS_TAG),
        ("<think>a</Think><answer>3</answer>", NEAR_MISS_TAG),
        ("<think>a</think><Answer>3</Answer>", NEAR_MISS_TAG),
        ("<answer >3</answer>", NEAR_MISS_TAG),
    ],
)
def test_malformed(completion, reason):
    with pytest.raises(MalformedSampleError, match=reason):
        answer_start(completion)


def test_custom_tags():
    tags = CotTags("<reasoning>", "</reasoning>", "<final>", "</final>")
    text = "<reasoning>x</reasoning><final>4</final>"
    assert answer_start(text, tags) == len("<reasoning>x</reasoning>")
    assert answer_start("<think>x</think>", tags) == 0  # default tags are plain text under custom tags
    with pytest.raises(MalformedSampleError, match=NEAR_MISS_TAG):
        answer_start("<Reasoning>x</Reasoning><final>4</final>", tags)


def test_near_miss_tags_are_a_counted_skip_not_a_direct_answer(qwen_processor):
    replies = [
        "<THINK>two shapes</THINK><answer>2</answer>",
        "< think >two shapes< /think ><answer>2</answer>",
        cot_completion("two shapes", "2"),
    ]
    records = [{"messages": [user_message("How many?", 0), assistant_message(r)]} for r in replies]
    kept, report = prepare_dataset(datasets.Dataset.from_list(records), qwen_processor)
    assert (report.kept, report.direct_answer) == (1, 0)
    assert report.skipped == {f"malformed: {NEAR_MISS_TAG}": 2}


# ---------------------------------------------------------------- token by token on the tiny Qwen2.5-VL

IMAGE = Image.new("RGB", (56, 56), "white")  # 2x2 merged patches -> 4 image tokens


def _collate(processor, samples, padding_side="right"):
    return collate_rows(processor, samples, IMAGE, padding_side)


def _split_at_completion(row):
    """The prompt part (up to the generation prompt `<|im_start|>assistant\\n`) and the completion part."""
    start = max(i for i, (tok, _) in enumerate(row) if tok == "assistant") + 2
    return row[:start], row[start:]


def test_normal_sample_with_think_in_prompt(qwen_processor):
    # The prompt contains the literal `<think>`; the tags split into BPE pieces that merge with neighbours
    # (`>Ċ`, `>B`); the end-of-turn tokens belong to ANSWER.
    _, (row,) = _collate(
        qwen_processor, [("Is <think> here?", cot_completion("There are 5 red shapes.", "B"))]
    )
    prompt, completion = _split_at_completion(row)
    assert all(seg == 0 for _, seg in prompt)
    assert sum(tok == "<|image_pad|>" for tok, _ in prompt) == 4
    assert completion == [
        ("<think", 1), (">Ċ", 1), ("There", 1), ("Ġare", 1), ("Ġ", 1), ("5", 1), ("Ġred", 1), ("Ġshapes", 1),
        (".Ċ", 1), ("</", 1), ("think", 1), (">Ċ", 1),
        ("<answer", 2), (">B", 2), ("</", 2), ("answer", 2), (">", 2), ("<|im_end|>", 2), ("Ċ", 2),
    ]  # fmt: skip


def test_direct_answer_sample(qwen_processor):
    _, (row,) = _collate(qwen_processor, [("How many?", "<answer>3</answer>")])
    prompt, completion = _split_at_completion(row)
    assert all(seg == 0 for _, seg in prompt)
    assert completion == [
        ("<answer", 2), (">", 2), ("3", 2), ("</", 2), ("answer", 2), (">", 2), ("<|im_end|>", 2), ("Ċ", 2)
    ]  # fmt: skip


def test_tags_as_single_special_tokens(qwen_processor):
    processor = copy.deepcopy(qwen_processor)
    processor.tokenizer.add_special_tokens(
        {"additional_special_tokens": ["<think>", "</think>", "<answer>", "</answer>"]},
        replace_extra_special_tokens=False,
    )
    _, (row,) = _collate(processor, [("Q?", cot_completion("There are 5 red.", "2"))])
    _, completion = _split_at_completion(row)
    assert completion == [
        ("<think>", 1), ("Ċ", 1), ("There", 1), ("Ġare", 1), ("Ġ", 1), ("5", 1), ("Ġred", 1), (".Ċ", 1),
        ("</think>", 1), ("Ċ", 2), ("<answer>", 2), ("2", 2), ("</answer>", 2), ("<|im_end|>", 2), ("Ċ", 2),
    ]  # fmt: skip


def test_left_and_right_padding_give_the_same_segments(qwen_processor):
    samples = [
        ("Q?", cot_completion("There are 5 red shapes, so 4 blue.", "3")),
        ("Another?", "<answer>A</answer>"),
    ]
    right, right_rows = _collate(qwen_processor, samples, "right")
    left, left_rows = _collate(qwen_processor, samples, "left")
    assert right_rows == left_rows
    assert (left["attention_mask"][:, 0] == 0).any() and (right["attention_mask"][:, -1] == 0).any()
    assert torch.equal(right["labels"] != -100, right["segment_ids"] > 0)
    assert torch.equal(left["labels"] != -100, left["segment_ids"] > 0)


def test_larger_image_expansion_does_not_shift_segments(qwen_processor):
    small, (row_small,) = _collate(qwen_processor, [("Q?", cot_completion("There are 5 red.", "1"))])
    batch = ScaleSFTCollator(processor=qwen_processor)(
        [{"messages": [user_message("Q?"), assistant_message(cot_completion("There are 5 red.", "1"))],
          "images": [Image.new("RGB", (112, 168), "white")]}]
    )  # fmt: skip
    assert (batch["input_ids"] == qwen_processor.image_token_id).sum() == 24  # 8x12 patches / 4
    assert batch["segment_ids"][0, -19:].tolist() == small["segment_ids"][0, -19:].tolist()


def test_segment_ids_from_hand_made_offsets():
    """Two rows of hand-written token offsets: the second is left-padded, its text 3 characters longer.

    Row 0, text of 20 characters: prompt tokens [0,5) [5,8), completion from character 8 (12 from the end),
    ANSWER from character 15 (5 from the end). A token belongs to the segment of its first character, so the
    token [14,16) that straddles the boundary is THINK. Row 1 has the same spans measured from its end.
    """
    offsets = torch.tensor(
        [
            [[0, 5], [5, 8], [8, 11], [11, 14], [14, 16], [16, 20], [0, 0], [0, 0]],
            [[0, 0], [0, 0], [0, 5], [5, 11], [11, 14], [14, 17], [17, 19], [19, 23]],
        ]
    )
    mask = torch.tensor([[1, 1, 1, 1, 1, 1, 0, 0], [0, 0, 1, 1, 1, 1, 1, 1]])
    spans = [SampleSpans(completion_from_end=12, answer_from_end=5)] * 2
    ids = segment_ids_from_offsets(offsets, mask, spans)
    assert ids.tolist() == [
        [IGNORE, IGNORE, THINK, THINK, THINK, ANSWER, IGNORE, IGNORE],
        [IGNORE, IGNORE, IGNORE, IGNORE, THINK, THINK, THINK, ANSWER],
    ]
