"""``scale-sft make-data``: write a synthetic chain-of-thought dataset, train and test splits, for the tiny
models: image grids for VLMs (``synthetic``) or arithmetic traces for text-only LMs (``synthetic_text``), and
word problems for pretrained text models (``word_problems``)."""

from __future__ import annotations

from dataclasses import dataclass, field

import datasets

from scale_sft.data.synthetic import TASKS, save_dataset
from scale_sft.data.synthetic_text import TEXT_TASKS, save_text_dataset


@dataclass
class MakeDataArguments:
    """``scale-sft make-data``: which synthetic task, how many records, where."""

    out: str = field(metadata={"help": "Directory for save_to_disk (train and test splits)."})
    n: int = field(default=2000, metadata={"help": "Number of training records."})
    n_test: int = field(default=200, metadata={"help": "Number of test records."})
    seed: int = field(default=0, metadata={"help": "Seed of the generated records."})
    task: str = field(
        default="default",
        metadata={
            "help": "default: image grids for VLMs; imbalanced: the same with 0-10 verification steps per record "
            "(long, variable-length reasoning, short answers); text: R1-style arithmetic traces with \\boxed{} "
            "answers, for text-only models; word_problems: R1-style word problems whose traces re-check themselves "
            "0-6 times (THINK about 25x ANSWER), for pretrained text models.",
            "choices": [*TASKS, *TEXT_TASKS],
        },
    )
    noise: float = field(
        default=0.0,
        metadata={
            "help": "Share of training traces (0-1) that stay fluent but hold a wrong intermediate statement or a "
            "digression, the gold answer kept, as distilled traces have (visual tasks; the test split stays clean)."
        },
    )


def make_data_command(args: MakeDataArguments) -> datasets.DatasetDict:
    """``scale-sft make-data``: generate the records of ``args.task`` and ``save_to_disk`` them."""
    if args.task in TEXT_TASKS:
        if args.noise:
            raise ValueError(f"--noise applies to the visual tasks (default, imbalanced), not --task {args.task}.")
        data = save_text_dataset(args.out, n_train=args.n, n_test=args.n_test, seed=args.seed, task=args.task)
    else:
        data = save_dataset(
            args.out, n_train=args.n, n_test=args.n_test, seed=args.seed, task=args.task, noise=args.noise
        )
    print(f"Saved {data} to {args.out}")
    return data
