"""A seeded synthetic visual-reasoning dataset that a tiny VLM can learn from scratch on CPU.

Each image is a grid of ``rows x cols`` cells (default 3x3) of exactly 28x28 px, so with a 14 px vision
patch and a 2x2 spatial merge every cell is exactly one image token. One to ``rows * cols`` cells hold a
solid-filled shape (square, circle or triangle); all shapes of an image share one of four colours.

The ``<think>`` trace is grounded in the image and the answer needs a step over it, so a model can
produce an answer that contradicts its own reasoning and both can be scored separately:

1. an intro (grid size, what a cell holds), then what the image shows: ``All shapes are red.`` and
   ``There are 5 shapes, so 4 of the 9 cells are empty.`` (counting and a subtraction);
2. one step over that description that the question needs: compare the colour asked with the colour seen
   (``count_color``), pick the empty-cell count (``count_empty``), compare the count with the question's
   threshold and choose yes/no (``more_than``), or map the colour to its letter (``which_color``);
3. ``So the answer is X.``

Why this task and not a richer one: a randomly initialised 1.5M-parameter model learns global image
properties (one colour, the number of filled cells) within the demo budget, but not per-colour counts in
multi-colour grids (``benchmarks/learnability.py``: loss down to 0.42x of its step-100 value on this task in
600 steps, 0.92x for multi-colour counts); in earlier trials it did not learn per-cell read-outs in raster
order (the previous version of this task) nor the colour of a single shape among empty cells, hence at
least ``MIN_FILLED`` of the cells hold shapes. The intro keeps the reasoning about ten times longer than
the answer in word tokens.

``task="imbalanced"`` has the imbalance the paper targets (long reasoning of widely varying length before a
short answer): the question asks for 0 to ``MAX_CHECKS`` checks (``Check what you see 4 times.``), and the
trace, without the intro, restates the description once per check (``Check 2 of 4: I look at the image
again. ...``) before the step. With a tokenizer trained on its corpus the THINK segment runs from about 40
to 460 tokens, about 34 times the ANSWER segment on average (``tests/test_synthetic.py`` checks the bounds).
The tiny model learns it from scratch (``benchmarks/LEARNABILITY_IMBALANCED.md``: in 250 steps the held-out
loss fell to 0.23x of its step-100 value, and the answer's from 3.50 to 0.55 nats). The default task is
unchanged by it, so the demo's data stays the same.

``noise`` (default 0) makes a share of the training traces imperfect the way distilled cold-start traces are
(written by a text model from image descriptions, verbose and not always right, with the dataset's gold
answer): exactly ``round(noise * n)`` records of the train split, drawn by seed, get either a
``wrong_statement`` (the colour or the shape count stated wrongly once, never corrected) or a ``digression``
(two fluent sentences that have nothing to do with the question). The reasoning step and the gold answer stay,
so the tags, the answer and the gold step that evaluation reads are unchanged; the record's ``trace_noise``
says which (``none`` for a clean trace), so analyses can split by it. The draw uses its own random stream, so
the records' scenes and questions do not depend on ``noise``, and the test split stays clean and identical
across noise levels (paired comparisons stay paired).
"""

from __future__ import annotations

import json
import math
import random
from collections.abc import Iterable, Iterator
from pathlib import Path

import datasets
from PIL import Image, ImageDraw

from scale_sft.data.format import (
    LETTERS,
    assistant_message,
    cot_completion,
    format_options,
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
QUESTION_TYPES: tuple[str, ...] = ("count_color", "count_empty", "more_than", "which_color")
YES_NO = ["yes", "no"]
MIN_FILLED = 0.4  # with a single shape among empty cells its colour was not learned in the demo budget
TASKS: tuple[str, ...] = ("default", "imbalanced")
MAX_CHECKS = 10  # imbalanced task: 0 to 10 checks, reasoning from about 40 to 460 tokens
TRACE_NOISE_KINDS: tuple[str, ...] = ("wrong_statement", "digression")
DIGRESSIONS: tuple[str, ...] = (
    "Grids like this one are also used for board games such as tic-tac-toe, where three marks in a row win.",
    "Squares, circles and triangles are among the first shapes that children learn to name and draw.",
    "Some painters of the last century built whole pictures out of coloured squares laid on a grid.",
    "A grid with as many rows as columns is called square, like the board of a game of chess.",
    "Languages split colours differently; some use a single word for both green and blue.",
    "It is often said that counting slowly, one row at a time, avoids most counting mistakes.",
)

Cell = dict[str, str] | None
Scene = list[list[Cell]]


def random_scene(rng: random.Random, rows: int, cols: int) -> Scene:
    """One colour for the whole image; shapes of random kinds in a random ``MIN_FILLED`` share or more of
    the cells, so that the colour covers a good part of the image."""
    color, n_cells = rng.choice(list(COLORS)), rows * cols
    filled = set(rng.sample(range(n_cells), rng.randint(math.ceil(MIN_FILLED * n_cells), n_cells)))
    cells = [{"color": color, "shape": rng.choice(SHAPES)} if i in filled else None for i in range(n_cells)]
    return [cells[r * cols : (r + 1) * cols] for r in range(rows)]


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


def scene_facts(scene: Scene) -> tuple[str, int, int]:
    """(the shapes' colour, number of shapes, number of cells)."""
    shapes = [cell for row in scene for cell in row if cell is not None]
    return shapes[0]["color"], len(shapes), len(scene) * len(scene[0])


def _question(rng: random.Random, scene: Scene, qtype: str) -> tuple[str, str, list[str], str]:
    """A ``qtype`` question over ``scene``: (question without its choices, reasoning step over the
    description, choices, answer)."""
    color, n, cells = scene_facts(scene)
    if qtype == "count_color":  # look up the colour asked, compare it with the one seen
        asked = rng.choice(list(COLORS))
        answer = str(n if asked == color else 0)
        relation = "and" if asked == color else "but"
        step = f"The shapes are {color}, {relation} the question asks about {asked}, so there are {answer} {asked} shapes."
        return f"How many {asked} shapes are in the image?", step, [], answer
    if qtype == "count_empty":  # already computed in the description: pick the right number
        return (
            "How many cells are empty?",
            f"The question asks for the empty cells: {cells - n}.",
            [],
            str(cells - n),
        )
    if qtype == "more_than":  # compare the count with a threshold from the question, then choose
        k = rng.randint(math.ceil(MIN_FILLED * cells) - 1, cells - 1)
        verdict = "yes" if n > k else "no"
        relation = "more" if n > k else "not more"
        answer = LETTERS[YES_NO.index(verdict)]
        step = f"There are {n} shapes and {n} is {relation} than {k}, so {verdict}. That is choice {answer}."
        return f"Are there more than {k} shapes?", step, YES_NO, answer
    choices = list(COLORS)  # which_color: map the colour seen to its letter
    answer = LETTERS[choices.index(color)]
    step = f"The shapes are {color}, which is choice {answer}."
    return "What colour are the shapes?", step, choices, answer


def describe_scene(scene: Scene) -> list[str]:
    """The grounded part of the trace: the grid, the shapes' colour, their number and the empty cells."""
    rows, cols = len(scene), len(scene[0])
    color, n, cells = scene_facts(scene)
    return [
        f"I look at the image. It is a grid of {rows} rows and {cols} columns, {cells} cells in all. "
        "Each cell is empty or holds one shape, and all shapes have the same colour.",
        f"All shapes are {color}.",
        f"There are {n} shapes, so {cells - n} of the {cells} cells are empty.",
    ]


def check_lines(scene: Scene, checks: int) -> list[str]:
    """The imbalanced task's verification steps: ``checks`` numbered restatements of the same facts."""
    color, n, cells = scene_facts(scene)
    return [
        f"Check {i} of {checks}: I look at the image again. The shapes are {color}, there are {n} of them, "
        f"and {cells} cells minus {n} shapes leaves {cells - n} empty cells."
        for i in range(1, checks + 1)
    ]


def add_trace_noise(rng: random.Random, scene: Scene, lines: list[str], kind: str) -> list[str]:
    """``lines`` (the trace before its reasoning step) with one wrong statement or an inserted digression."""
    color, n, cells = scene_facts(scene)
    if kind == "digression":
        noisy = list(lines)
        for sentence in rng.sample(DIGRESSIONS, 2):
            noisy.insert(rng.randint(0, len(noisy)), sentence)
        return noisy
    wrong_color = rng.choice([c for c in COLORS if c != color])
    wrong_n = rng.choice([m for m in range(1, cells + 1) if m != n])
    right, wrong = rng.choice(
        [
            (f"All shapes are {color}.", f"All shapes are {wrong_color}."),
            (f"There are {n} shapes, so {cells - n}", f"There are {wrong_n} shapes, so {cells - wrong_n}"),
        ]
    )
    at = next(i for i, line in enumerate(lines) if line.startswith(right))
    return [*lines[:at], lines[at].replace(right, wrong), *lines[at + 1 :]]


def trace_noise_kinds(n: int, noise: float, seed: int, split: str) -> tuple[list[str], random.Random]:
    """Which of ``n`` records get which trace noise (exactly ``round(noise * n)`` of them), and the random
    stream, keyed by (seed, split) apart from the records', that draws the noise itself."""
    if not 0.0 <= noise <= 1.0:
        raise ValueError(f"noise is a share of the traces, in [0, 1]; got {noise}.")
    rng = random.Random(f"scale-sft-trace-noise:{seed}:{split}")
    noisy = set(rng.sample(range(n), round(noise * n)))
    return [rng.choice(TRACE_NOISE_KINDS) if i in noisy else "none" for i in range(n)], rng


def make_record(
    rng: random.Random,
    index: int,
    split: str,
    rows: int = 3,
    cols: int = 3,
    task: str = "default",
    trace_noise: str = "none",
    noise_rng: random.Random | None = None,
) -> dict:
    """One record of ``task``; all randomness comes from ``rng`` so a seeded stream gives identical records.
    ``trace_noise`` (one of ``TRACE_NOISE_KINDS``, drawn from ``noise_rng``) spoils its trace, not its answer."""
    if task not in TASKS:
        raise ValueError(f"Unknown synthetic task {task!r}; choose one of {TASKS}.")
    qtype = rng.choice(QUESTION_TYPES)
    scene = random_scene(rng, rows, cols)
    question, step, choices, answer = _question(rng, scene, qtype)
    description = describe_scene(scene)
    if task == "imbalanced":  # no intro; the question asks for 0 to MAX_CHECKS checks before the step
        checks = rng.randint(0, MAX_CHECKS)
        if checks:
            question += f" Check what you see {checks} time{'s' if checks > 1 else ''}."
        description = description[1:] + check_lines(scene, checks)
    if choices:
        question = format_options(question, choices)
    if trace_noise != "none":
        description = add_trace_noise(noise_rng, scene, description, trace_noise)
    think = "\n".join([*description, step, f"So the answer is {answer}."])
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
        "trace_noise": trace_noise,
    }


def make_records(
    n: int,
    seed: int,
    split: str = "train",
    rows: int = 3,
    cols: int = 3,
    task: str = "default",
    noise: float = 0.0,
) -> list[dict]:
    """``n`` records from a stream keyed by (seed, split), so splits are independent but reproducible;
    ``round(noise * n)`` of them with a noisy trace."""
    rng = random.Random(f"scale-sft-synthetic:{seed}:{split}")
    kinds, noise_rng = trace_noise_kinds(n, noise, seed, split)
    return [make_record(rng, i, split, rows, cols, task, kinds[i], noise_rng) for i in range(n)]


FEATURES = record_features("question_type", "think", "scene", "trace_noise")


def make_dataset(
    n_train: int,
    n_test: int,
    seed: int,
    rows: int = 3,
    cols: int = 3,
    task: str = "default",
    noise: float = 0.0,
) -> datasets.DatasetDict:
    """Train and test splits; ``noise`` spoils training traces only, so the test split is the same at any
    noise level."""
    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_list(
                make_records(n, seed, split, rows, cols, task, noise if split == "train" else 0.0),
                features=FEATURES,
            )
            for split, n in (("train", n_train), ("test", n_test))
        }
    )


def save_dataset(
    out_dir: str | Path,
    n_train: int,
    n_test: int,
    seed: int,
    rows: int = 3,
    cols: int = 3,
    task: str = "default",
    noise: float = 0.0,
) -> datasets.DatasetDict:
    dataset = make_dataset(n_train, n_test, seed, rows, cols, task, noise)
    dataset.save_to_disk(str(out_dir))
    return dataset


def corpus_texts(records: Iterable[dict]) -> Iterator[str]:
    """Every text a model sees (question + instruction, completion), e.g. to train a tokenizer."""
    for record in records:
        for message in record["messages"]:
            yield message_text(message)
