"""Batched vs one-at-a-time evaluation on the tiny model: wall-clock ratio and agreement of the answers.

    .venv/bin/python benchmarks/eval_batching.py [--n 64] [--batch_size 16] [--max_new_tokens 256]

Builds the tiny Qwen2.5-VL and synthetic data, trains it briefly (so it writes the tagged format), then
generates on the same ``n`` test records with ``--batch_size`` and with batch size 1, in one process, and
writes ``benchmarks/eval_batching.json`` and ``benchmarks/EVAL_BATCHING.md``.
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import torch

from scale_sft.cli import main as cli
from scale_sft.data.loading import load_cot_dataset
from scale_sft.evaluation.generate import generate
from scale_sft.evaluation.runner import score_records
from scale_sft.models.loading import load_model_and_processor
from scale_sft.run_record import library_versions, versions_line

HERE = Path(__file__).parent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=64)
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--max_new_tokens", type=int, default=256)
    parser.add_argument("--train_steps", type=int, default=40)
    args = parser.parse_args()
    torch.set_num_threads(2)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        cli(["make-tiny-model", "--out", str(root / "model")])
        cli(["make-data", "--out", str(root / "data"), "--n", "400", "--n_test", str(args.n)])
        cli(["train", "--model", str(root / "model"), "--dataset", str(root / "data"), "--output_dir",
             str(root / "trained"), "--max_steps", str(args.train_steps), "--per_device_train_batch_size", "8",
             "--learning_rate", "2e-3", "--save_strategy", "no", "--report_to", "none", "--disable_tqdm", "true"])  # fmt: skip
        model, processor = load_model_and_processor(str(root / "trained"))
        test = load_cot_dataset(str(root / "data"), "test")
        records = [test[i] for i in range(args.n)]

        results = {}
        for batch_size in (args.batch_size, 1):
            started = time.perf_counter()
            generations = generate(model, processor, records, batch_size, args.max_new_tokens)
            seconds = time.perf_counter() - started
            rows = score_records(records, generations)
            results[batch_size] = {"seconds": seconds, "answers": [r["prediction"] for r in rows]}

    batched, single = results[args.batch_size], results[1]
    same = sum(a == b for a, b in zip(batched["answers"], single["answers"], strict=True)) / args.n
    speedup = single["seconds"] / batched["seconds"]
    report = {
        "command": "benchmarks/eval_batching.py " + " ".join(f"--{k} {v}" for k, v in vars(args).items()),
        "n": args.n,
        "batch_size": args.batch_size,
        "max_new_tokens": args.max_new_tokens,
        "seconds_batched": batched["seconds"],
        "seconds_batch_size_1": single["seconds"],
        "speedup": speedup,
        "same_extracted_answer": same,
        "goal_speedup_4x_met": speedup >= 4,
        "goal_same_answers_98pct_met": same >= 0.98,
        "machine": f"{platform.processor() or platform.machine()}, torch threads {torch.get_num_threads()}",
        "versions": library_versions(),
    }
    (HERE / "eval_batching.json").write_text(json.dumps(report, indent=2))
    (HERE / "EVAL_BATCHING.md").write_text(
        "# Batched evaluation\n\n"
        f"Command: `.venv/bin/python {report['command']}` (one run, both settings in the same process). "
        f"{versions_line()}\n\n"
        "| setting | wall-clock (s) |\n| --- | --- |\n"
        f"| batch size {args.batch_size} | {batched['seconds']:.1f} |\n| batch size 1 | {single['seconds']:.1f} |\n\n"
        f"Speed-up: **{speedup:.1f}x** (goal >= 4x: {'met' if speedup >= 4 else 'not met'}). "
        f"Same extracted answer on **{same:.1%}** of the {args.n} items "
        f"(goal >= 98%: {'met' if same >= 0.98 else 'not met'}).\n"
    )
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
