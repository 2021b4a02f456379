import json
import re
from collections import Counter

import datasets
import pytest
from PIL import Image

from scale_sft.data.format import cot_completion, instruction, message_text
from scale_sft.data.synthetic import (
    CELL_PX,
    COLORS,
    QUESTION_TYPES,
    SHAPES,
    corpus_texts,
    make_records,
    parse_think_scene,
    reasoning_correct,
    save_dataset,
)

LETTERS = "ABCDEFGHIJ"
TEXT_FIELDS = ("id", "question", "question_type", "answer", "answer_type", "choices", "think", "scene")


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return make_records(200, seed=7)


def _tokens(text: str) -> int:
    return len(re.findall(r"\w+|[^\w\s]", text))


def _colour_counts(scene: list) -> Counter:
    return Counter(cell["color"] for row in scene for cell in row if cell is not None)


def _recompute_answer(record: dict) -> str:
    """The gold answer recomputed from the scene and question text alone."""
    scene = json.loads(record["scene"])
    question = record["question"]
    colours = _colour_counts(scene)
    shapes = Counter(cell["shape"] for row in scene for cell in row if cell is not None)
    qtype = record["question_type"]
    if qtype == "count_color":
        return str(colours[re.match(r"How many (\w+) shapes", question).group(1)])
    if qtype == "count_shape":
        return str(shapes[re.match(r"How many (\w+)s are", question).group(1)])
    if qtype == "compare":
        first, second = re.match(r"Are there more (\w+) shapes or (\w+) shapes\?", question).groups()
        if colours[first] == colours[second]:
            gold = "the same number"
        else:
            gold = first if colours[first] > colours[second] else second
    else:
        gold = colours.most_common(1)[0][0]
    return LETTERS[record["choices"].index(gold)]


def test_same_seed_same_records_and_image_bytes() -> None:
    a, b = make_records(20, seed=3), make_records(20, seed=3)
    for x, y in zip(a, b, strict=True):
        assert {k: v for k, v in x.items() if k != "images"} == {k: v for k, v in y.items() if k != "images"}
        assert x["images"][0].tobytes() == y["images"][0].tobytes()


def test_different_seed_or_split_differs() -> None:
    base = [r["scene"] for r in make_records(20, seed=3)]
    assert base != [r["scene"] for r in make_records(20, seed=4)]
    assert base != [r["scene"] for r in make_records(20, seed=3, split="test")]


def test_record_fields_and_messages(records: list[dict]) -> None:
    assert {r["question_type"] for r in records} == set(QUESTION_TYPES)
    for i, r in enumerate(records):
        assert r["id"] == f"synth-train-{i:05d}"
        user, assistant = r["messages"]
        assert user["content"][0] == {"type": "image"}
        assert message_text(user) == f"{r['question']}\n{instruction()}"
        assert message_text(assistant) == cot_completion(r["think"], r["answer"])
        image = r["images"][0]
        assert image.mode == "RGB" and image.size == (4 * CELL_PX, 4 * CELL_PX)


def test_pixels_match_scene(records: list[dict]) -> None:
    for r in records[:50]:
        image = r["images"][0]
        for i, row in enumerate(json.loads(r["scene"])):
            for j, cell in enumerate(row):
                centre = image.getpixel((j * CELL_PX + CELL_PX // 2, i * CELL_PX + CELL_PX // 2))
                # just inside the top-left of the shape's box: filled for squares only
                corner = image.getpixel((j * CELL_PX + 5, i * CELL_PX + 5))
                if cell is None:
                    assert centre == corner == (255, 255, 255)
                else:
                    assert centre == COLORS[cell["color"]]
                    assert (corner == centre) == (cell["shape"] == "square")


def test_gold_answer_matches_scene(records: list[dict]) -> None:
    for r in records:
        assert r["answer"] == _recompute_answer(r), r["id"]
        assert r["think"].endswith(f"So the answer is {r['answer']}.")


def test_choices_and_unique_most_colour(records: list[dict]) -> None:
    for r in records:
        if r["question_type"] in ("count_color", "count_shape"):
            assert r["answer_type"] == "numeric" and r["choices"] == []
            continue
        assert r["answer_type"] == "multiple_choice"
        assert r["answer"] in LETTERS[: len(r["choices"])]
        for letter, choice in zip(LETTERS, r["choices"], strict=False):
            assert f"\n{letter}. {choice}" in r["question"]
        if r["question_type"] == "most_color":
            assert sorted(r["choices"]) == sorted(COLORS)
            top = _colour_counts(json.loads(r["scene"])).most_common(2)
            assert len(top) == 1 or top[0][1] > top[1][1]


def test_think_is_20x_the_answer(records: list[dict]) -> None:
    think = sum(_tokens(f"<think>\n{r['think']}\n</think>") for r in records)
    answer = sum(_tokens(f"<answer>{r['answer']}</answer>") + 2 for r in records)
    assert think / answer >= 20


def test_parse_think_scene_round_trip_and_rejection(records: list[dict]) -> None:
    for r in records:
        assert parse_think_scene(r["think"], 4, 4) == json.loads(r["scene"])
    think = records[0]["think"]
    assert parse_think_scene(think.replace("Row 2:", "Row 5:"), 4, 4) is None
    unknown_word = re.sub(r"(column 2) (has a \w+ \w+|is empty)", r"\1 has a purple blob", think, count=1)
    assert parse_think_scene(unknown_word, 4, 4) is None
    missing_row = "\n".join(line for line in think.splitlines() if not line.startswith("Row 3"))
    assert parse_think_scene(missing_row, 4, 4) is None
    assert parse_think_scene(think, 4, 5) is None


def _change_one_cell(think: str) -> str:
    """Rewrite the first described cell into a different one."""
    match = re.search(r"column 1 (has a (\w+) (\w+)|is empty)", think)
    if match.group(2) is None:
        new = "column 1 has a red square"
    else:
        new = f"column 1 has a {match.group(2)} {next(s for s in SHAPES if s != match.group(3))}"
    return think[: match.start()] + new + think[match.end() :]


def test_reasoning_correct_on_gold_and_perturbed(records: list[dict]) -> None:
    for r in records:
        think = r["think"]
        assert reasoning_correct(think, r)
        changed = _change_one_cell(think)
        assert changed != think and not reasoning_correct(changed, r)
        wrong_total = re.sub(r"Total: (\d+)\.", lambda m: f"Total: {int(m.group(1)) + 1}.", think, count=1)
        assert not reasoning_correct(wrong_total, r)
        wrong_row = re.sub(r"row 1 has (\d+)", lambda m: f"row 1 has {int(m.group(1)) + 1}", think, count=1)
        assert not reasoning_correct(wrong_row, r)
        no_counting = "\n".join(line for line in think.splitlines() if not line.startswith("Counting"))
        assert not reasoning_correct(no_counting, r)


def test_corpus_texts_cover_questions_and_completions(records: list[dict]) -> None:
    texts = list(corpus_texts(records[:5]))
    assert len(texts) == 10
    assert records[0]["question"] in texts[0] and records[0]["think"] in texts[1]


def test_save_and_load_round_trip(tmp_path) -> None:
    saved = save_dataset(tmp_path / "synth", n_train=6, n_test=4, seed=11)
    loaded = datasets.load_from_disk(str(tmp_path / "synth"))
    assert loaded["train"].num_rows == 6 and loaded["test"].num_rows == 4
    train_scenes = set(loaded["train"]["scene"])
    assert not train_scenes & set(loaded["test"]["scene"])
    for split in ("train", "test"):
        expected = make_records(saved[split].num_rows, seed=11, split=split)
        for row, record in zip(loaded[split], expected, strict=True):
            for key in TEXT_FIELDS:
                assert row[key] == record[key]
            assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
            assert message_text(row["messages"][0]) == message_text(record["messages"][0])
            assert message_text(row["messages"][1]) == message_text(record["messages"][1])
            assert row["messages"][0]["content"][0]["type"] == "image"
            image = row["images"][0]
            assert isinstance(image, Image.Image)
            assert image.convert("RGB").tobytes() == record["images"][0].tobytes()
