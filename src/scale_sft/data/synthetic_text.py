"""A seeded synthetic text-only reasoning task in the DeepSeek-R1 distillation shape, for tiny causal LMs.

A record asks for a short sum of single-digit numbers (``What is 7 + 5 - 3?``) followed by R1's own instruction
(``Please reason step by step, and put your final answer within \\boxed{}.``). The assistant reply is what R1
traces look like: the reasoning inside ``<think>...</think>``, then the final answer in ``\\boxed{}``, with no
answer tags::

    <think>
    Okay, let me work this out one step at a time.
    Start with 7.
    7 + 5 = 12.
    12 - 3 = 9.
    So the answer is 9.
    </think>

    The answer is $\\boxed{9}$.

Each step carries the running total, so the answer needs every step and a model can state a conclusion in its
reasoning that its boxed answer contradicts (the consistency metric reads ``So the answer is``). The reasoning is
several times longer than the answer, the imbalance of real traces. Records carry ``answer_format: "boxed"``,
which tells evaluation to read the final answer from the last ``\\boxed{}``.

What the tiny model learns of it (one seed, seed 0 everywhere; ``make-data --task text --n 2000 --n_test 100``,
``make-tiny-model --arch qwen2_text``, ``train --per_device_train_batch_size 8 --lr_scheduler_type cosine``,
``eval --benchmark synthetic_text --limit 100 --max_new_tokens 96``): the format and copying the question's
numbers first, the sums later. After 1,200 steps at lr 2e-3 (``--warmup_steps 50``): malformed 0.00,
consistency 1.00, accuracy 0.27 (0.51 on two-term sums); after 400 steps at 3e-3 (``--warmup_steps 20``):
malformed 0.00, accuracy 0.06.
"""

from __future__ import annotations

import random
from pathlib import Path

import datasets

from scale_sft.data.format import BOXED_INSTRUCTION
from scale_sft.data.word_problems import make_word_record

MIN_TERMS, MAX_TERMS = 2, 4
INTRO = "Okay, let me work this out one step at a time."
TEXT_TASKS = ("text", "word_problems")  # word_problems: ``scale_sft.data.word_problems``, for pretrained models

FEATURES = datasets.Features(
    {
        "id": datasets.Value("string"),
        "messages": [{"role": datasets.Value("string"), "content": datasets.Value("string")}],
        "question": datasets.Value("string"),
        "question_type": datasets.Value("string"),
        "answer": datasets.Value("string"),
        "answer_type": datasets.Value("string"),
        "answer_format": datasets.Value("string"),
        "think": datasets.Value("string"),
    }
)


def make_text_record(rng: random.Random, index: int, split: str) -> dict:
    """One record; all randomness comes from ``rng``. Running totals never go below zero."""
    n_terms = rng.randint(MIN_TERMS, MAX_TERMS)
    total = rng.randint(1, 9)
    expression, steps = str(total), [f"Start with {total}."]
    for _ in range(n_terms - 1):
        value = rng.randint(1, 9)
        sign = "-" if value <= total and rng.random() < 0.5 else "+"
        new_total = total - value if sign == "-" else total + value
        expression += f" {sign} {value}"
        steps.append(f"{total} {sign} {value} = {new_total}.")
        total = new_total
    answer = str(total)
    question = f"What is {expression}?"
    think = "\n".join([INTRO, *steps, f"So the answer is {answer}."])
    return {
        "id": f"text-{split}-{index:05d}",
        "messages": [
            {"role": "user", "content": f"{question}\n{BOXED_INSTRUCTION}"},
            {
                "role": "assistant",
                "content": f"<think>\n{think}\n</think>\n\nThe answer is $\\boxed{{{answer}}}$.",
            },
        ],
        "question": question,
        "question_type": f"{n_terms}_terms",
        "answer": answer,
        "answer_type": "numeric",
        "answer_format": "boxed",
        "think": think,
    }


def make_text_records(n: int, seed: int, split: str = "train", task: str = "text") -> list[dict]:
    """``n`` records of ``task`` (``TEXT_TASKS``) from a stream keyed by (seed, split), so splits are
    independent but reproducible."""
    if task not in TEXT_TASKS:
        raise ValueError(f"task must be one of {TEXT_TASKS}, got {task!r}.")
    make = make_text_record if task == "text" else make_word_record
    rng = random.Random(f"scale-sft-synthetic-{task}:{seed}:{split}")
    return [make(rng, i, split) for i in range(n)]


def make_text_dataset(n_train: int, n_test: int, seed: int, task: str = "text") -> datasets.DatasetDict:
    return datasets.DatasetDict(
        {
            split: datasets.Dataset.from_list(make_text_records(n, seed, split, task), features=FEATURES)
            for split, n in (("train", n_train), ("test", n_test))
        }
    )


def save_text_dataset(
    out_dir: str | Path, n_train: int, n_test: int, seed: int, task: str = "text"
) -> datasets.DatasetDict:
    dataset = make_text_dataset(n_train, n_test, seed, task)
    dataset.save_to_disk(str(out_dir))
    return dataset
