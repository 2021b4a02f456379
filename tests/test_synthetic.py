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
    DIGRESSIONS,
    MAX_CHECKS,
    QUESTION_TYPES,
    SHAPES,
    TASKS,
    corpus_texts,
    make_records,
    save_dataset,
    scene_facts,
)
from scale_sft.evaluation.benchmarks import parse_description
from scale_sft.segments import answer_start

LETTERS = "ABCDEFGHIJ"
TEXT_FIELDS = ("id", "question", "question_type", "answer", "answer_type", "choices", "think", "scene")


@pytest.fixture(scope="module")
def records() -> list[dict]:
    return make_records(200, seed=7)


def _tokens(text: str) -> int:
    return len(re.findall(r"\w+|[^\w\s]", text))


def _recompute_answer(record: dict) -> str:
    """The gold answer recomputed from the scene and the question text alone."""
    cells = [cell for row in json.loads(record["scene"]) for cell in row]
    shapes = [cell for cell in cells if cell is not None]
    color, question = shapes[0]["color"], record["question"]
    qtype = record["question_type"]
    if qtype == "count_color":
        asked = re.match(
            r"How many (\w+) shapes are in the image\?( Check what you see \d+ times?\.)?$", question
        )
        asked = asked.group(1)
        return str(len(shapes) if asked == color else 0)
    if qtype == "count_empty":
        return str(len(cells) - len(shapes))
    if qtype == "more_than":
        k = int(re.match(r"Are there more than (\d+) shapes\?", question).group(1))
        return "A" if len(shapes) > k else "B"
    return LETTERS[record["choices"].index(color)]


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
        assert image.mode == "RGB" and image.size == (3 * CELL_PX, 3 * CELL_PX)


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


def test_one_colour_and_at_least_one_shape_per_scene(records: list[dict]) -> None:
    counts = Counter()
    for r in records:
        shapes = [cell for row in json.loads(r["scene"]) for cell in row if cell is not None]
        assert 4 <= len(shapes) <= 9 and len({cell["color"] for cell in shapes}) == 1
        assert {cell["shape"] for cell in shapes} <= set(SHAPES)
        counts[len(shapes)] += 1
    assert len(counts) == 6  # every count from 4 to 9 occurs


def test_gold_answer_matches_scene(records: list[dict]) -> None:
    for r in records:
        assert r["answer"] == _recompute_answer(r), r["id"]
        assert r["think"].endswith(f"So the answer is {r['answer']}.")


def test_choices(records: list[dict]) -> None:
    for r in records:
        if r["question_type"] in ("count_color", "count_empty"):
            assert r["answer_type"] == "numeric" and r["choices"] == []
            continue
        assert r["answer_type"] == "multiple_choice"
        assert r["answer"] in LETTERS[: len(r["choices"])]
        for letter, choice in zip(LETTERS, r["choices"], strict=False):
            assert f"\n{letter}. {choice}" in r["question"]
        expected = ["yes", "no"] if r["question_type"] == "more_than" else list(COLORS)
        assert r["choices"] == expected


def test_think_is_several_times_the_answer(records: list[dict]) -> None:
    think = sum(_tokens(f"<think>\n{r['think']}\n</think>") for r in records)
    answer = sum(_tokens(f"<answer>{r['answer']}</answer>") for r in records)
    assert think / answer >= 10


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


@pytest.fixture(scope="module")
def imbalanced() -> list[dict]:
    return make_records(300, seed=7, task="imbalanced")


def test_imbalanced_task_keeps_scenes_questions_and_answers(records, imbalanced) -> None:
    """The same stream of scenes and questions as the default task, with checks asked and performed."""
    assert [r["scene"] for r in imbalanced[:1]] == [r["scene"] for r in records[:1]]
    checks_seen = set()
    for r in imbalanced:
        assert r["answer"] == _recompute_answer(r), r["id"]
        asked = re.search(r"Check what you see (\d+) times?\.", r["question"])
        checks = int(asked.group(1)) if asked else 0
        checks_seen.add(checks)
        lines = r["think"].splitlines()
        color, n, cells = parse_description(r["think"])
        expected = [
            f"Check {i} of {checks}: I look at the image again. The shapes are {color}, there are {n} of "
            f"them, and {cells} cells minus {n} shapes leaves {cells - n} empty cells."
            for i in range(1, checks + 1)
        ]
        assert lines[2:-2] == expected and lines[-1] == f"So the answer is {r['answer']}."
        if r["choices"]:  # the checks sentence stays in the question, before the choices
            assert r["question"].index("\nA. ") >= (asked.end() if asked else 0)
    assert checks_seen == set(range(MAX_CHECKS + 1))


@pytest.mark.integration
def test_imbalanced_task_has_the_papers_imbalance(imbalanced, tmp_path) -> None:
    """With a tokenizer trained on its corpus: THINK at least 30x ANSWER on average, lengths varying 5x+."""
    from transformers import AutoProcessor

    from scale_sft.models.tiny import make_tiny_model
    from scale_sft.segments import ANSWER, THINK
    from scale_sft.sft.collator import ScaleSFTCollator

    texts = list(corpus_texts(make_records(300, seed=0, split="tokenizer", task="imbalanced")))
    processor = AutoProcessor.from_pretrained(make_tiny_model(tmp_path / "tiny", texts=texts))
    collate = ScaleSFTCollator(processor=processor)
    think, answer = [], []
    for i in range(0, len(imbalanced), 50):
        segments = collate(imbalanced[i : i + 50])["segment_ids"]
        think += (segments == THINK).sum(dim=1).tolist()
        answer += (segments == ANSWER).sum(dim=1).tolist()
    assert sum(think) / sum(answer) >= 30
    assert max(think) / min(think) >= 5
    assert max(answer) <= 10


def test_unknown_task_raises() -> None:
    with pytest.raises(ValueError, match="synthetic task"):
        make_records(1, seed=0, task="hard")


def test_make_data_cli_writes_the_imbalanced_task(tmp_path) -> None:
    from scale_sft.cli import main

    main(
        [
            "make-data",
            "--out",
            str(tmp_path / "d"),
            "--n",
            "5",
            "--n_test",
            "2",
            "--seed",
            "4",
            "--task",
            "imbalanced",
        ]
    )
    loaded = datasets.load_from_disk(str(tmp_path / "d"))
    assert loaded["train"]["think"] == [r["think"] for r in make_records(5, seed=4, task="imbalanced")]


@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("noise", [0.0, 0.2, 0.35, 1.0])
def test_noise_marks_exactly_its_share_of_traces(task, noise) -> None:
    records = make_records(150, seed=5, task=task, noise=noise)
    kinds = Counter(r["trace_noise"] for r in records)
    assert sum(n for kind, n in kinds.items() if kind != "none") == round(noise * 150)
    if 0 < noise < 1:  # both kinds are drawn
        assert kinds["wrong_statement"] > 0 and kinds["digression"] > 0
    again = make_records(150, seed=5, task=task, noise=noise)  # deterministic by seed
    assert [r["think"] for r in again] == [r["think"] for r in records]


@pytest.mark.parametrize("task", TASKS)
def test_noisy_traces_keep_gold_answer_step_and_tags(task) -> None:
    clean = make_records(120, seed=2, task=task)
    noisy = make_records(120, seed=2, task=task, noise=0.5)
    for c, r in zip(clean, noisy, strict=True):
        # the scene, question and gold answer do not depend on the noise
        for key in ("id", "question", "answer", "choices", "scene"):
            assert r[key] == c[key]
        assert r["answer"] == _recompute_answer(r)
        completion = message_text(r["messages"][1])
        assert completion == cot_completion(r["think"], r["answer"])
        assert answer_start(completion) > 0  # well-formed tags
        lines, clean_lines = r["think"].splitlines(), c["think"].splitlines()
        assert lines[-2:] == clean_lines[-2:]  # the reasoning step and the final sentence
        if r["trace_noise"] == "none":
            assert r["think"] == c["think"]
        elif r["trace_noise"] == "digression":  # two off-topic sentences, nothing else changed
            assert [line for line in lines if line not in DIGRESSIONS] == clean_lines
            assert len(lines) == len(clean_lines) + 2
        else:  # one statement of the description is wrong, the trace as long as before
            assert r["trace_noise"] == "wrong_statement"
            assert sum(a != b for a, b in zip(lines, clean_lines, strict=True)) == 1
            assert parse_description(r["think"]) != scene_facts(json.loads(r["scene"]))


def test_noise_spoils_the_train_split_only_and_is_checked(tmp_path) -> None:
    from scale_sft.cli import main

    main(["make-data", "--out", str(tmp_path / "d"), "--n", "10", "--n_test", "6", "--noise", "0.3"])
    loaded = datasets.load_from_disk(str(tmp_path / "d"))
    assert Counter(loaded["train"]["trace_noise"])["none"] == 7
    assert loaded["test"]["think"] == [r["think"] for r in make_records(6, seed=0, split="test")]
    assert set(loaded["test"]["trace_noise"]) == {"none"}
    with pytest.raises(ValueError, match="share of the traces"):
        make_records(3, seed=0, noise=1.5)
