"""``scale-sft``: one command line for building tiny models and data, and for training.

Each sub-command parses its own flags; ``train`` is TRL-style (``--config run.yaml`` plus any
``ScaleSFTConfig`` / ``ModelConfig`` flag, command line over YAML).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


def _train(argv: list[str]) -> None:
    from trl import ModelConfig, TrlParser

    from scale_sft.config import ScaleSFTConfig
    from scale_sft.training import TrainArguments, train

    parser = TrlParser((TrainArguments, ScaleSFTConfig, ModelConfig), prog="scale-sft train")
    script_args, config, model_args = parser.parse_args_and_config(args=argv)
    train(script_args, config, model_args)


def _make_tiny_model(argv: list[str]) -> None:
    from scale_sft.models.tiny import ARCHITECTURES, make_tiny_model

    parser = argparse.ArgumentParser(prog="scale-sft make-tiny-model", description="Build a tiny random VLM.")
    parser.add_argument("--arch", default="qwen2_5_vl", choices=sorted(ARCHITECTURES))
    parser.add_argument("--out", required=True, help="Directory to save the model and processor to.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--special_tags", action="store_true", help="Make <think>/<answer> tags single special tokens."
    )
    args = parser.parse_args(argv)
    path = make_tiny_model(args.out, arch=args.arch, special_tags=args.special_tags, seed=args.seed)
    print(f"Saved a tiny {args.arch} model and processor to {path}")


def _make_data(argv: list[str]) -> None:
    from scale_sft.data.synthetic import save_dataset

    parser = argparse.ArgumentParser(
        prog="scale-sft make-data", description="Write the synthetic CoT dataset."
    )
    parser.add_argument("--out", required=True, help="Directory for save_to_disk (train and test splits).")
    parser.add_argument("--n", type=int, default=2000, help="Number of training records.")
    parser.add_argument("--n_test", type=int, default=200, help="Number of test records.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    data = save_dataset(args.out, n_train=args.n, n_test=args.n_test, seed=args.seed)
    print(f"Saved {data} to {args.out}")


def _demo(argv: list[str]) -> None:
    from scale_sft.demo import main as demo

    demo(argv)


def _convert(argv: list[str]) -> None:
    from scale_sft.data.converters import main as convert

    convert(argv)


def _inspect_data(argv: list[str]) -> None:
    from scale_sft.data.inspect import main as inspect_data

    inspect_data(argv)


COMMANDS: dict[str, tuple[Callable[[list[str]], None], str]] = {
    "train": (_train, "SCALe-SFT or vanilla SFT on a chain-of-thought dataset"),
    "make-tiny-model": (_make_tiny_model, "build a tiny random VLM with a locally trained tokenizer"),
    "make-data": (_make_data, "write the synthetic visual-reasoning dataset"),
    "demo": (_demo, "build the tiny model and data, train vanilla SFT and SCALe-SFT, compare"),
    "convert": (_convert, "convert Vision-R1 / ScienceQA / IconQA data to <think>/<answer> records"),
    "inspect-data": (_inspect_data, "count skipped records and THINK/ANSWER tokens per record of a dataset"),
}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        lines = "\n".join(f"  {name:<16} {help_}" for name, (_, help_) in COMMANDS.items())
        print(f"usage: scale-sft COMMAND [flags]\n\ncommands:\n{lines}", file=sys.stderr)
        sys.exit(0 if argv and argv[0] in ("-h", "--help") else 2)
    COMMANDS[argv[0]][0](argv[1:])


if __name__ == "__main__":
    main()
