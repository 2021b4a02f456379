"""Tokens per training record (prompt, image and completion, as the model sees them): the base stage's records
against the chain-of-thought records of a synthetic task, with the tiny model's processor. How the demo's base
stage is sized against its SFT stages (``scale_sft.demo.BUDGETS``).

    .venv/bin/python experiments/record_tokens.py [--n 200] [--task default]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from scale_sft.data.format import render_sample
from scale_sft.data.synthetic import make_records
from scale_sft.experiments.base import base_records
from scale_sft.experiments.stages import build_model
from scale_sft.models.loading import load_model_and_processor


def mean_tokens(processor, records: list[dict]) -> float:
    lengths = []
    for record in records:
        text, _ = render_sample(processor, record["messages"])
        lengths.append(len(processor(text=[text], images=[record["images"]])["input_ids"][0]))
    return statistics.fmean(lengths)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--n", type=int, default=200, help="Records of each kind (base: n/2 scenes, two each)."
    )
    parser.add_argument("--task", choices=("default", "imbalanced"), default="default")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        _, processor = load_model_and_processor(str(build_model(Path(tmp), seed=0, task=args.task)))
    cot = mean_tokens(processor, make_records(args.n, seed=0, task=args.task))
    base = mean_tokens(processor, base_records(args.n // 2, seed=0, split="train"))
    print(
        f"task {args.task}: chain-of-thought record {cot:.1f} tokens, base record {base:.1f} ({base / cot:.2f}x)"
    )


if __name__ == "__main__":
    main()
