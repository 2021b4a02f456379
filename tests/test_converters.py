"""Converters from Vision-R1 cold-start, ScienceQA and IconQA schemas: exact records, counted skips, trainable."""

import json

import datasets
import pytest
from fixtures_sources import grpo_sources, iconqa_original, vision_r1_cold
from helpers import png
from PIL import Image

from scale_sft.answers import (
    FREE_TEXT,
    MULTIPLE_CHOICE,
    NUMERIC,
    normalize_answer,
    parse_generation,
    read_gold,
)
from scale_sft.cli import main
from scale_sft.data.converters import ImageFiles, convert, to_dataset
from scale_sft.data.converters.answers import (
    clean_answer,
    lettered_options,
    normalise_response,
    source_answer,
)
from scale_sft.data.converters.iconqa import convert_iconqa
from scale_sft.data.converters.rl_sources import convert_r1v
from scale_sft.data.converters.scienceqa import convert_scienceqa
from scale_sft.data.converters.vision_r1 import convert_vision_r1, strip_answer_instruction
from scale_sft.data.format import instruction
from scale_sft.data.loading import load_cot_dataset, read_records
from scale_sft.data.prepare import prepare_dataset
from scale_sft.data.synthetic import TASKS, make_records
from scale_sft.data.synthetic_text import make_text_records
from scale_sft.segments import NEAR_MISS_TAG

INSTRUCTION = instruction()


def _read(path, split="train"):
    """A source file's records and the image rules ``convert`` applies to it."""
    records, folder = read_records(str(path), split)
    return records, ImageFiles.of(folder, None)


def _user_text(record):
    return record["messages"][0]["content"][-1]["text"]


def _n_image_parts(record):
    return sum(part["type"] == "image" for part in record["messages"][0]["content"])


def _completion(record):
    return record["messages"][1]["content"][0]["text"]


# ------------------------------------------------------------------------------------------------- Vision-R1


def _sharegpt(human, gpt, image=None, images=None, layout="human_gpt", **extra):
    users, bots = {"human_gpt": ("human", "gpt"), "user_assistant": ("user", "assistant")}[layout]
    key = "role" if layout == "user_assistant" else "from"
    record = {"conversations": [{key: users, "value": human}, {key: bots, "value": gpt}], **extra}
    if image is not None:
        record["image"] = image
    if images is not None:
        record["images"] = images
    return record


@pytest.fixture
def vision_r1_json(tmp_path):
    root = tmp_path / "vision_r1"
    for name, color in (("a", "red"), ("b", "blue"), ("c", "green"), ("d", "yellow")):
        png(root / "images" / f"{name}.png", color)
    records = [
        # 0: human/gpt, `image` str, plain "The answer is 2." after the think block
        _sharegpt(
            "<image>\nHow many red circles are there?",
            "<think>\nI see two red circles.\n</think>\n\nThe answer is 2.",
            image="images/a.png",
            id="vr1-count",
        ),
        # 1: user/assistant roles, `images` list, markdown "**Answer:** B", lettered options
        _sharegpt(
            "<image>\nWhich shape is larger?\nA. the circle\nB. the square",
            "<think>The square spans more pixels.</think> **Answer:** B",
            images=["images/b.png"],
            layout="user_assistant",
        ),
        # 2: two images, answer already in <answer> tags, role/content keys
        {
            "conversations": [
                {"role": "user", "content": "<image>\n<image>\nWhat is the sum of the two numbers?"},
                {"role": "assistant", "content": "<think>\nLeft 3, right 4.\n</think>\n<answer>7</answer>"},
            ],
            "images": ["images/c.png", "images/d.png"],
        },
        # 3: "Final Answer" heading then the option's text -> its letter; a system turn is ignored
        {
            "conversations": [
                {"from": "system", "value": "You are helpful."},
                {"from": "human", "value": "<image>Find the angle.\nChoices:\nA: 30°\nB: 60°"},
                {
                    "from": "gpt",
                    "value": "<think>\nThe triangle is equilateral.\n</think>\n\n**Final Answer**\n60°",
                },
            ],
            "image": "images/a.png",
        },
        # 4: \boxed{} answer
        _sharegpt(
            "<image>\nWhat is the area?",
            "<think>\n3 times 4.\n</think>\nSo the area is \\boxed{12}.",
            image="images/b.png",
        ),
        # 5: a direct answer without reasoning
        _sharegpt("<image>\nWhat colour is it?", "<answer>green</answer>", image="images/c.png"),
        # unconvertible:
        _sharegpt("<image>\nQ?", "Let me see.\nIt is big.", image="images/a.png"),  # no think block
        _sharegpt("<image>\nQ?", "<think>a</think><think>b</think> The answer is 1.", image="images/a.png"),
        _sharegpt("<image>\nQ?", "<think>\nok\n</think>\nThe answer is .", image="images/a.png"),  # empty
        _sharegpt("<image>\nQ?", "<think>ok</think> The answer is 1.", image="images/missing.png"),
        _sharegpt("<image><image>\nQ?", "<think>ok</think> The answer is 1.", image="images/a.png"),
        _sharegpt("<image>\nQ?", "<think>ok</think>\nFirst line.\nSecond line.", image="images/a.png"),
        _sharegpt("<image>\nQ?", "<think>ok, no end. The answer is 1.", image="images/a.png"),
    ]
    path = root / "cold_start.json"
    path.write_text(json.dumps(records, ensure_ascii=False))
    return path


def test_vision_r1_records(vision_r1_json):
    records, files = _read(vision_r1_json)
    converted, report = convert_vision_r1(records, images=files)
    assert (report.total, report.kept) == (13, 6)
    assert report.skipped == {
        "no think block": 1,
        "several think blocks": 1,
        "empty answer": 1,
        "missing image": 1,
        "image placeholder count mismatch": 1,
        "no recognisable answer": 1,
        "only one think tag": 1,
    }
    count, letter, two_images, by_text, boxed, direct = converted

    assert count["id"] == "vr1-count"
    assert _user_text(count) == f"How many red circles are there?\n{INSTRUCTION}"
    assert _n_image_parts(count) == 1 and count["images"] == [str(vision_r1_json.parent / "images" / "a.png")]
    assert _completion(count) == "<think>\nI see two red circles.\n</think>\n<answer>2</answer>"
    assert (count["answer"], count["answer_type"], count["choices"]) == ("2", "numeric", [])

    assert _user_text(letter) == f"Which shape is larger?\nA. the circle\nB. the square\n{INSTRUCTION}"
    assert _completion(letter) == "<think>\nThe square spans more pixels.\n</think>\n<answer>B</answer>"
    assert (letter["answer"], letter["answer_type"]) == ("B", "multiple_choice")
    assert letter["choices"] == ["the circle", "the square"] and letter["id"] == "vision_r1-000001"

    assert _user_text(two_images) == f"What is the sum of the two numbers?\n{INSTRUCTION}"
    assert _n_image_parts(two_images) == 2 and len(two_images["images"]) == 2
    assert _completion(two_images) == "<think>\nLeft 3, right 4.\n</think>\n<answer>7</answer>"

    assert _user_text(by_text) == f"Find the angle.\nChoices:\nA: 30°\nB: 60°\n{INSTRUCTION}"
    assert [m["role"] for m in by_text["messages"]] == ["user", "assistant"]
    assert _completion(by_text) == "<think>\nThe triangle is equilateral.\n</think>\n<answer>B</answer>"
    assert by_text["choices"] == ["30°", "60°"]

    assert _completion(boxed) == "<think>\n3 times 4.\n</think>\n<answer>12</answer>"
    assert _completion(direct) == "<answer>green</answer>" and direct["answer_type"] == "free_text"


def test_vision_r1_passes_prepare_dataset(vision_r1_json, qwen_processor):
    records, files = _read(vision_r1_json)
    kept, report = prepare_dataset(to_dataset(convert_vision_r1(records, images=files)[0]), qwen_processor)
    assert (report.total, report.kept, report.direct_answer) == (6, 6, 1)
    assert isinstance(kept[0]["images"][0], Image.Image)


@pytest.mark.parametrize(
    ("tail", "answer"),
    [
        ("\n\nThe answer is B.", "B."),
        (" **Answer:** 42", " 42"),
        ("\nThe correct answer is: (C)", "(C)"),
        ("\nFinal answer: 3.5", "3.5"),
        ("\n\\boxed{\\frac{1}{2}}", "\\frac{1}{2}"),
        ("\n## Final Answer\n\nB", "B"),
        ("\n  7  ", "7"),
        ("\nFrom the figure, x = 2.\n<answer>2</answer>", "2"),
    ],
)
def test_source_answer_rules(tail, answer):
    assert source_answer(tail).strip() == answer.strip()


@pytest.mark.parametrize(
    ("question", "kept"),
    [
        ("How many?\nReturn the final answer as a number.", "How many?"),
        ("Which one? Answer with the option's letter from the given choices directly.", "Which one?"),
        ("Q?\nA. x\nB. y\nAnswer the question using a single word or phrase.", "Q?\nA. x\nB. y"),
        ("Q?\nPlease put your final answer in \\boxed{}. Give the answer as a letter.", "Q?"),
        ("Subtract all red cubes.\nGive the number of remaining objects.", None),  # the question itself
        ("Answer the question: how many cubes are there?", None),  # a question, and nothing else
        ("Return the final answer as a number.", None),  # nothing would remain
    ],
)
def test_source_answer_instructions_are_removed(question, kept):
    assert strip_answer_instruction(question) == ((kept, True) if kept else (question, False))


def test_options_and_final_answer_prefix():
    assert lettered_options("Capital? Options: (A) Seattle (B) Juneau, (C) Boise") == [
        "Seattle",
        "Juneau",
        "Boise",
    ]
    assert lettered_options("Which? (A) one") == [] and lettered_options("(B) x (C) y") == []
    assert lettered_options("Q\nA. x\nB. y\nOptions: (A) p (B) q") == ["x", "y"]  # lines first
    assert [clean_answer(a) for a in (" Final Answer:B ", "**Final answer: 42.**", "Answer: $7$")] == [
        "B",
        "42",
        "7",
    ]


def test_normalise_keeps_reasoning_verbatim():
    think = "Step 1: 2 + 2 = 4.\n\n  Step 2: **so** the answer is 4."
    assert normalise_response(f"<think>\n{think}\n</think>\n\nThe answer is 4.") == (think, "4.")


# ------------------------------------------------------------------------------------------------- ScienceQA


def test_scienceqa_records(scienceqa_jsonl, qwen_processor):
    records, files = _read(scienceqa_jsonl, "test")
    converted, report = convert_scienceqa(records, split="test", images=files)
    assert (report.total, report.kept) == (5, 2)
    assert report.skipped == {"no image": 1, "answer index out of range": 1, "missing image": 1}
    producer, state = converted
    assert _user_text(producer) == (
        "Context: The diagram shows a food web.\nWhich organism is a producer?\nA. grass\nB. fox\n"
        + INSTRUCTION
    )
    assert _completion(producer) == "<answer>A</answer>"
    assert (producer["answer"], producer["answer_type"], producer["choices"]) == (
        "A",
        "multiple_choice",
        ["grass", "fox"],
    )
    assert producer["id"] == "scienceqa-test-00000" and producer["category"] == "natural science"
    assert _user_text(state) == f"Which state is highlighted?\nA. Ohio\nB. Iowa\nC. Utah\n{INSTRUCTION}"
    assert _completion(state) == "<answer>C</answer>" and state["answer"] == "C"

    kept, data_report = prepare_dataset(to_dataset(converted), qwen_processor)
    assert (data_report.kept, data_report.direct_answer) == (2, 2)


def test_scienceqa_pil_images_through_the_cli(tmp_path, qwen_processor, capsys):
    """The hub layout: a save_to_disk dataset whose `image` column is a datasets Image (PIL when read)."""
    features = datasets.Features(
        {
            "image": datasets.Image(),
            "question": datasets.Value("string"),
            "choices": [datasets.Value("string")],
            "answer": datasets.Value("int64"),
            "hint": datasets.Value("string"),
            "subject": datasets.Value("string"),
        }
    )
    rows = [
        {"image": Image.new("RGB", (56, 56), c), "question": f"Q{i}?", "choices": ["x", "y"], "answer": i % 2}
        | {"hint": "", "subject": "language science"}
        for i, c in enumerate(("red", "blue", "green"))
    ]
    rows.append(rows[0] | {"image": None})
    source = tmp_path / "source"
    datasets.DatasetDict({"test": datasets.Dataset.from_list(rows, features=features)}).save_to_disk(
        str(source)
    )

    out = tmp_path / "converted"
    main(["convert", "--source", "scienceqa", "--input", str(source), "--split", "test", "--out", str(out)])
    assert (
        "scienceqa: 3/4 records kept (3 direct answers without reasoning); skipped: 1 no image"
        in capsys.readouterr().out
    )
    data = load_cot_dataset(str(out), "test")
    assert data["answer"] == ["A", "B", "A"] and json.loads((out / "conversion_report.json").read_text())[
        "test"
    ]["skipped"] == {"no image": 1}
    kept, report = prepare_dataset(data, qwen_processor)
    assert report.kept == 3


# ------------------------------------------------------------------------------------------------- IconQA


def test_iconqa_records(iconqa_json, qwen_processor):
    records, files = _read(iconqa_json, "test")
    converted, report = convert_iconqa(records, images=files)
    assert (report.total, report.kept) == (9, 5)
    assert report.skipped == {"gold answer not among the choices": 2, "unknown ques_type": 1, "no image": 1}
    clock, circle, dots, shape, blue = converted

    assert _user_text(clock) == f"What time does the clock show?\nA. 3:00\nB. 4:00\nC. 5:00\n{INSTRUCTION}"
    assert (clock["answer"], clock["answer_type"], clock["choices"]) == (
        "B",
        "multiple_choice",
        ["3:00", "4:00", "5:00"],
    )
    assert _completion(clock) == "<answer>B</answer>" and clock["id"] == "iconqa-1"

    assert _user_text(circle) == f"Which shape is a circle?\nA. image 1\nB. image 2\n{INSTRUCTION}"
    assert _n_image_parts(circle) == 3
    assert [p.rsplit("/", 2)[-1] for p in circle["images"]] == ["image.png", "choice_0.png", "choice_1.png"]
    assert (circle["answer"], circle["choices"], circle["category"]) == (
        "B",
        ["image 1", "image 2"],
        "choose_img",
    )

    assert _user_text(dots) == f"How many dots are there?\n{INSTRUCTION}"
    assert (dots["answer"], dots["answer_type"], dots["choices"]) == ("6", "numeric", [])
    assert (shape["answer"], shape["answer_type"]) == ("triangle", "free_text")
    assert blue["answer"] == "B"

    kept, data_report = prepare_dataset(to_dataset(converted), qwen_processor)
    assert (data_report.kept, data_report.direct_answer) == (5, 5)


def test_convert_writes_a_trainable_dataset(vision_r1_json, tmp_path, qwen_processor, capsys):
    out = tmp_path / "out"
    main(["convert", "--source", "vision_r1", "--input", str(vision_r1_json), "--out", str(out)])
    printed = capsys.readouterr().out
    assert (
        "vision_r1: 6/13 records kept (1 direct answers without reasoning)" in printed
        and "1 several think blocks" in printed
    )
    kept, report = prepare_dataset(load_cot_dataset(str(out)), qwen_processor)
    assert (report.kept, report.direct_answer) == (6, 1)
    assert kept.features["images"].feature == datasets.Image()


def test_nothing_converted_is_an_error(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps({"conversations": [{"from": "human", "value": "hi"}]}))
    with pytest.raises(ValueError, match="No record converted.*turns do not alternate user/assistant"):
        convert("vision_r1", str(path))


def test_rl_gold_answers_follow_the_tag_rules(tmp_path):
    png(tmp_path / "a.png", "red")
    solutions = ["<answer> 3 </answer>", "<Answer> 3 </Answer>", "\\boxed{4}", "The answer is 5.", 6]
    records = [{"image": "a.png", "problem": "How many?", "solution": s} for s in solutions]
    converted, report = convert_r1v(records, images=ImageFiles.of(tmp_path, None))
    assert [(r["answer"], r["answer_type"]) for r in converted] == [(str(n), "numeric") for n in (3, 4, 5, 6)]
    assert report.skipped == {NEAR_MISS_TAG: 1}


# ------------------------------------------------------------------------ round trip: converters -> evaluation


def _all_converted(tmp_path, vision_r1_json, scienceqa_jsonl, iconqa_json) -> dict[str, list[dict]]:
    """Every converter's records (and the synthetic generators'), from the sources the tests write."""
    llava_cot, mulberry = vision_r1_cold(tmp_path / "vr1")
    path_r1v, path_rl = grpo_sources(tmp_path / "rl")
    converted = {
        "vision_r1": convert("vision_r1", str(vision_r1_json))[0],
        "vision_r1 (LLaVA-CoT)": convert("vision_r1", str(llava_cot))[0],
        "vision_r1 (Mulberry, source answer kept)": convert(
            "vision_r1", str(mulberry), keep_source_answer=True
        )[0],
        "scienceqa": convert("scienceqa", str(scienceqa_jsonl), split="test")[0],
        "iconqa": convert("iconqa", str(iconqa_json), split="test")[0],
        "iconqa (original release)": convert("iconqa", str(iconqa_original(tmp_path / "iq")), split="train")[
            0
        ],
        "r1v": convert("r1v", str(path_r1v))[0],
        "vision_r1_rl": convert("vision_r1_rl", str(path_rl))[0],
    }
    converted = {name: list(data) for name, data in converted.items()}
    converted |= {f"synthetic ({task})": make_records(8, seed=0, task=task) for task in TASKS}
    converted["synthetic_text"] = make_text_records(8, seed=0)
    return converted


def test_every_gold_answer_reads_as_itself_under_evaluation(
    tmp_path, vision_r1_json, scienceqa_jsonl, iconqa_json
):
    """A converter's gold answer is readable by evaluation, an option letter reads as itself, and the record's
    own target, scored as a model's generation, is correct."""
    types = set()
    for name, records in _all_converted(tmp_path, vision_r1_json, scienceqa_jsonl, iconqa_json).items():
        assert records, name
        for record in records:
            gold = read_gold(record)
            types.add(gold.answer_type)
            if gold.answer_type == MULTIPLE_CHOICE:
                assert gold.target == record["answer"], (name, record["answer"])
            target = record["messages"][-1]["content"]
            target = target if isinstance(target, str) else target[0]["text"]
            parsed = parse_generation(target, answer_format=record.get("answer_format") or "tags")
            assert normalize_answer(parsed.answer, gold.answer_type, gold.choices) == gold.target, (
                name,
                target,
            )
    assert types == {MULTIPLE_CHOICE, NUMERIC, FREE_TEXT}
