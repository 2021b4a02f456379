"""A seeded synthetic visual-reasoning dataset that a tiny VLM can learn from scratch on CPU.

Each image is a grid of ``rows x cols`` cells of exactly 28x28 px, so with a 14 px vision patch and a
2x2 spatial merge every cell is exactly one image token. A cell is empty (white) or holds one
solid-filled shape from a small vocabulary of very distinct colours and shapes.

The ``<think>`` trace is grounded in the image and the answer needs a step over it, so a model can
produce an answer that contradicts its own reasoning and both can be scored separately:

1. an intro sentence, then one line per row describing its cells in a fixed wording
   (``Row 1: column 1 has a red circle, column 2 is empty, ...``);
2. a plan sentence and one counting line per counted target with per-row counts, running totals and a
   total (``Counting red shapes: row 1 has 1, so far 1; row 2 has 0, so far 1; ... Total: 3.``);
3. for multiple choice, a comparison sentence mapping the result to a letter, then
   ``So the answer is X.``

The row descriptions and running totals make the reasoning much longer than the answer (over 20x in
word/punctuation tokens on average), mirroring the token imbalance of real chain-of-thought data.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import datasets
from PIL import Image, ImageDraw

from scale_sft.data.format import (
    assistant_message,
    cot_completion,
    message_text,
    record_features,
    user_message,
)

CELL_PX = 28  # one merged image token (14 px patch x 2x2 merge)
MARGIN_PX = 4
BACKGROUND = (255, 255, 255)
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 160, 60),
    "blue": (30, 70, 220),
    "yellow": (240, 200, 20),
}
SHAPES: tuple[str, ...] = ("square", "circle", "triangle")
QUESTION_TYPES: tuple[str, ...] = ("count_color", "count_shape", "compare", "most_color")
EMPTY_PROB = 0.35
LETTERS = "ABCDEFGHIJ"
SAME_NUMBER = "the same number"

Cell = dict[str, str] | None
Scene = list[list[Cell]]
CountStep = tuple[str, list[tuple[int, int]], int]  # (label, [(row count, running total)], total)

_ROW_RE = re.compile(r"^Row (\d+): (.+)\.$")
_CELL_RE = re.compile(r"^column (\d+) (?:has a (\w+) (\w+)|is empty)$")
_COUNT_RE = re.compile(r"^Counting ([a-z ]+): (.+)\. Total: (\d+)\.$")
_ROW_COUNT_RE = re.compile(r"^row (\d+) has (\d+), so far (\d+)$")


def random_scene(rng: random.Random, rows: int, cols: int) -> Scene:
    """Each cell independently empty or a uniformly drawn colour/shape."""

    def cell() -> Cell:
        if rng.random() < EMPTY_PROB:
            return None
        return {"color": rng.choice(list(COLORS)), "shape": rng.choice(SHAPES)}

    return [[cell() for _ in range(cols)] for _ in range(rows)]


def draw_scene(scene: Scene) -> Image.Image:
    """Render the grid; no anti-aliasing, so every shape pixel has exactly its palette colour."""
    rows, cols = len(scene), len(scene[0])
    image = Image.new("RGB", (cols * CELL_PX, rows * CELL_PX), BACKGROUND)
    draw = ImageDraw.Draw(image)
    for r, row in enumerate(scene):
        for c, cell in enumerate(row):
            if cell is None:
                continue
            x0, y0 = c * CELL_PX + MARGIN_PX, r * CELL_PX + MARGIN_PX
            x1, y1 = (c + 1) * CELL_PX - MARGIN_PX - 1, (r + 1) * CELL_PX - MARGIN_PX - 1
            fill = COLORS[cell["color"]]
            if cell["shape"] == "square":
                draw.rectangle((x0, y0, x1, y1), fill=fill)
            elif cell["shape"] == "circle":
                draw.ellipse((x0, y0, x1, y1), fill=fill)
            else:
                draw.polygon([((x0 + x1) / 2, y0), (x1, y1), (x0, y1)], fill=fill)
    return image


def _matches(cell: Cell, target: str) -> bool:
    """A target is a colour or a shape name; the two vocabularies are disjoint."""
    return cell is not None and target in (cell["color"], cell["shape"])


def count_target(scene: Scene, target: str) -> int:
    return sum(_matches(cell, target) for row in scene for cell in row)


def _label(target: str) -> str:
    return f"{target} shapes" if target in COLORS else f"{target}s"


def _describe_row(index: int, row: list[Cell]) -> str:
    cells = [
        f"column {c} is empty" if cell is None else f"column {c} has a {cell['color']} {cell['shape']}"
        for c, cell in enumerate(row, start=1)
    ]
    return f"Row {index}: {', '.join(cells)}."


def _count_step(scene: Scene, target: str) -> CountStep:
    per_row, so_far = [], 0
    for row in scene:
        n = sum(_matches(cell, target) for cell in row)
        so_far += n
        per_row.append((n, so_far))
    return _label(target), per_row, so_far


def _counting_line(scene: Scene, target: str) -> str:
    label, per_row, total = _count_step(scene, target)
    parts = [f"row {r} has {n}, so far {s}" for r, (n, s) in enumerate(per_row, start=1)]
    return f"Counting {label}: {'; '.join(parts)}. Total: {total}."


def _has_unique_max(scene: Scene) -> bool:
    counts = sorted((count_target(scene, color) for color in COLORS), reverse=True)
    return counts[0] > counts[1]


def _with_choices(question: str, choices: list[str]) -> str:
    return question + "".join(f"\n{LETTERS[i]}. {choice}" for i, choice in enumerate(choices))


def make_record(rng: random.Random, index: int, split: str, rows: int = 4, cols: int = 4) -> dict:
    """One record; all randomness comes from ``rng`` so a seeded stream gives identical records."""
    qtype = rng.choice(QUESTION_TYPES)
    scene = random_scene(rng, rows, cols)
    if qtype == "most_color":  # resample so the gold colour is unambiguous
        while not _has_unique_max(scene):
            scene = random_scene(rng, rows, cols)

    choices: list[str] = []
    conclusion: list[str] = []
    if qtype in ("count_color", "count_shape"):
        target = rng.choice(list(COLORS) if qtype == "count_color" else SHAPES)
        question = f"How many {_label(target)} are in the image?"
        targets = [target]
        plan = f"Now I count the {_label(target)} row by row."
        answer = str(count_target(scene, target))
    elif qtype == "compare":
        first, second = rng.sample(list(COLORS), 2)
        choices = [first, second, SAME_NUMBER]
        question = _with_choices(f"Are there more {first} shapes or {second} shapes?", choices)
        targets = [first, second]
        plan = f"Now I count the {first} shapes and the {second} shapes row by row."
        n_first, n_second = count_target(scene, first), count_target(scene, second)
        if n_first == n_second:
            verdict, gold = "so both have the same number", SAME_NUMBER
        else:
            gold = first if n_first > n_second else second
            verdict = f"so there are more {gold} shapes"
        answer = LETTERS[choices.index(gold)]
        tally = f"{first.capitalize()} has {n_first} and {second} has {n_second}"
        conclusion = [f"{tally}, {verdict}. That is choice {answer}."]
    else:
        choices = rng.sample(list(COLORS), len(COLORS))
        question = _with_choices("Which colour appears most often?", choices)
        targets = list(COLORS)
        plan = "Now I count the shapes of each colour row by row."
        gold = max(COLORS, key=lambda color: count_target(scene, color))
        answer = LETTERS[choices.index(gold)]
        conclusion = [
            f"{gold.capitalize()} has the most shapes, {count_target(scene, gold)}. That is choice {answer}."
        ]

    think = "\n".join(
        [
            f"The image is a grid of {rows} rows and {cols} columns. I describe each row from left to right.",
            *(_describe_row(r, row) for r, row in enumerate(scene, start=1)),
            plan,
            *(_counting_line(scene, target) for target in targets),
            *conclusion,
            f"So the answer is {answer}.",
        ]
    )
    return {
        "id": f"synth-{split}-{index:05d}",
        "messages": [user_message(question, 1), assistant_message(cot_completion(think, answer))],
        "images": [draw_scene(scene)],
        "question": question,
        "question_type": qtype,
        "answer": answer,
        "answer_type": "multiple_choice" if choices else "numeric",
        "choices": choices,
        "think": think,
        "scene": json.dumps(scene),
    }


def make_records(n: int, seed: int, split: str = "train", rows: int = 4, cols: int = 4) -> list[dict]:
    """``n`` records from a stream keyed by (seed, split), so splits are independent but reproducible."""
    rng = random.Random(f"scale-sft-synthetic:{seed}:{split}")
    return [make_record(rng, i, split, rows, cols) for i in range(n)]


FEATURES = record_features("question_type", "think", "scene")


def make_dataset(n_train: int, n_test: int, seed: int, rows: int = 4, cols: int = 4) -> datasets.DatasetDict:
    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_list(make_records(n, seed, split, rows, cols), features=FEATURES)
            for split, n in (("train", n_train), ("test", n_test))
        }
    )


def save_dataset(
    out_dir: str | Path, n_train: int, n_test: int, seed: int, rows: int = 4, cols: int = 4
) -> datasets.DatasetDict:
    dataset = make_dataset(n_train, n_test, seed, rows, cols)
    dataset.save_to_disk(str(out_dir))
    return dataset


def corpus_texts(records: Iterable[dict]) -> Iterator[str]:
    """Every text a model sees (question + instruction, completion), e.g. to train a tokenizer."""
    for record in records:
        for message in record["messages"]:
            yield message_text(message)


def parse_think_scene(think: str, rows: int, cols: int) -> Scene | None:
    """The scene described by the ``Row i:`` lines of a (possibly generated) trace, or None if the
    lines are missing, out of order, the wrong size or use words outside the vocabulary."""
    row_lines = [line.strip() for line in think.splitlines() if line.strip().startswith("Row ")]
    if len(row_lines) != rows:
        return None
    scene: Scene = []
    for r, line in enumerate(row_lines, start=1):
        row_match = _ROW_RE.match(line)
        if row_match is None or int(row_match.group(1)) != r:
            return None
        parts = row_match.group(2).split(", ")
        if len(parts) != cols:
            return None
        row: list[Cell] = []
        for c, part in enumerate(parts, start=1):
            cell_match = _CELL_RE.match(part)
            if cell_match is None or int(cell_match.group(1)) != c:
                return None
            color, shape = cell_match.group(2), cell_match.group(3)
            if color is None:
                row.append(None)
            elif color in COLORS and shape in SHAPES:
                row.append({"color": color, "shape": shape})
            else:
                return None
        scene.append(row)
    return scene


def parse_counting_steps(think: str) -> list[CountStep] | None:
    """The ``Counting ...`` lines of a trace in order, or None if one of them is malformed."""
    steps: list[CountStep] = []
    for line in (line.strip() for line in think.splitlines()):
        if not line.startswith("Counting "):
            continue
        match = _COUNT_RE.match(line)
        if match is None:
            return None
        per_row = []
        for r, part in enumerate(match.group(2).split("; "), start=1):
            row_match = _ROW_COUNT_RE.match(part)
            if row_match is None or int(row_match.group(1)) != r:
                return None
            per_row.append((int(row_match.group(2)), int(row_match.group(3))))
        steps.append((match.group(1), per_row, int(match.group(3))))
    return steps


def reasoning_correct(think: str, record: dict) -> bool:
    """True iff the trace describes the gold scene exactly and its counting lines count the same
    targets, in the same order, with the true per-row counts, running totals and totals.

    Expected counts are recomputed from ``record["scene"]`` for the targets the gold trace counts.
    The final comparison sentence and the answer are not checked: answer correctness is scored apart.
    """
    scene = json.loads(record["scene"])
    if parse_think_scene(think, len(scene), len(scene[0])) != scene:
        return False
    gold_steps = parse_counting_steps(record["think"]) or []
    label_to_target = {_label(target): target for target in (*COLORS, *SHAPES)}
    expected = [_count_step(scene, label_to_target[label]) for label, _, _ in gold_steps]
    return parse_counting_steps(think) == expected
