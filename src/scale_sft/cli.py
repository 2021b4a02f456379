"""``scale-sft``: the command line. Every parser lives here, and only parses: each command hands the parsed
values to the Python API that does the work.

- ``train`` / ``grpo`` are TRL-style: ``--config run.yaml`` plus any ``ScaleSFTConfig`` / ``ScaleGRPOConfig``
  and ``ModelConfig`` flag, command line over YAML;
- ``eval`` generates on a benchmark and scores it; ``compare`` puts evaluation runs side by side;
- ``convert`` turns public datasets into the record format, ``inspect-data`` shows how a dataset will train;
- ``make-tiny-model`` / ``make-data`` build the offline model and synthetic data, ``demo`` runs the paper's
  comparison on them.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable


def _train(argv: list[str]) -> None:
    from trl import ModelConfig, TrlParser

    from scale_sft.sft.recipe import TrainArguments, train
    from scale_sft.sft.sft_config import ScaleSFTConfig

    parser = TrlParser((TrainArguments, ScaleSFTConfig, ModelConfig), prog="scale-sft train")
    script_args, config, model_args = parser.parse_args_and_config(args=argv)
    train(script_args, config, model_args)


def _grpo(argv: list[str]) -> None:
    from trl import ModelConfig, TrlParser

    from scale_sft.grpo.grpo_config import ScaleGRPOConfig
    from scale_sft.grpo.recipe import GRPOArguments, grpo

    parser = TrlParser((GRPOArguments, ScaleGRPOConfig, ModelConfig), prog="scale-sft grpo")
    script_args, config, model_args = parser.parse_args_and_config(args=argv)
    grpo(script_args, config, model_args)


def _make_tiny_model(argv: list[str]) -> None:
    from scale_sft.models.tiny import ARCHITECTURES, make_tiny_model

    parser = argparse.ArgumentParser(prog="scale-sft make-tiny-model", description="Build a tiny random VLM.")
    parser.add_argument("--arch", default="qwen2_5_vl", choices=sorted(ARCHITECTURES))
    parser.add_argument("--out", required=True, help="Directory to save the model and processor to.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--special_tags", action="store_true", help="Make <think>/<answer> tags single special tokens."
    )
    _add_tag_flags(parser)
    args = parser.parse_args(argv)
    path = make_tiny_model(
        args.out, arch=args.arch, special_tags=args.special_tags, tags=_tags(args), seed=args.seed
    )
    print(f"Saved a tiny {args.arch} model and processor to {path}")


def _make_data(argv: list[str]) -> None:
    from scale_sft.data.synthetic import TASKS, save_dataset
    from scale_sft.data.synthetic_text import TEXT_TASKS, save_text_dataset

    parser = argparse.ArgumentParser(
        prog="scale-sft make-data", description="Write the synthetic CoT dataset."
    )
    parser.add_argument("--out", required=True, help="Directory for save_to_disk (train and test splits).")
    parser.add_argument("--n", type=int, default=2000, help="Number of training records.")
    parser.add_argument("--n_test", type=int, default=200, help="Number of test records.")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--task",
        choices=(*TASKS, *TEXT_TASKS),
        default="default",
        help="default: image grids for VLMs; imbalanced: the same with 0-10 verification steps per record (long, "
        "variable-length reasoning, short answers); text: R1-style arithmetic traces with \\boxed{} answers; word_problems: R1-style word problems "
        "with verbose self-checks (0-6 per trace), for pretrained models.",
    )
    args = parser.parse_args(argv)
    if args.task in TEXT_TASKS:
        data = save_text_dataset(args.out, n_train=args.n, n_test=args.n_test, seed=args.seed, task=args.task)
    else:
        data = save_dataset(args.out, n_train=args.n, n_test=args.n_test, seed=args.seed, task=args.task)
    print(f"Saved {data} to {args.out}")


def _demo(argv: list[str]) -> None:
    from pathlib import Path

    from scale_sft.demo import BUDGETS, run_demo

    parser = argparse.ArgumentParser(
        prog="scale-sft demo",
        description="Vanilla SFT, SCALe-SFT and both + GRPO on a tiny Qwen2.5-VL and synthetic data, compared.",
    )
    parser.add_argument("--output_dir", default="runs/demo")
    parser.add_argument("--quick", action="store_true", help="A few-minute run instead of the full demo.")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    run_demo(Path(args.output_dir), BUDGETS["quick" if args.quick else "full"], args.seed)


def _eval(argv: list[str]) -> None:
    from scale_sft.evaluation.answers import ANSWER_FORMATS
    from scale_sft.evaluation.benchmarks import HUB_BENCHMARKS
    from scale_sft.evaluation.runner import evaluate
    from scale_sft.method_config import MALFORMED_MODES

    parser = argparse.ArgumentParser(
        prog="scale-sft eval", description="Generate on a benchmark and score it."
    )
    parser.add_argument("--model", required=True, help="Hub name or local path of the model to evaluate.")
    parser.add_argument(
        "--benchmark",
        default="synthetic",
        help="synthetic, synthetic_text, scienceqa_img, iconqa, or a dataset path.",
    )
    parser.add_argument("--split", default="test")
    parser.add_argument("--data", default=None, help="Local copy of the benchmark (file or directory).")
    hub_defaults = "; ".join(f"{name}: {' then '.join(s.hub_names)}" for name, s in HUB_BENCHMARKS.items())
    parser.add_argument(
        "--hub_name",
        default=None,
        help=f"Hub dataset to read a hub benchmark from (default: {hub_defaults}).",
    )
    parser.add_argument("--limit", type=int, default=None, help="Evaluate the first N records only (N >= 1).")
    parser.add_argument("--batch_size", type=int, default=16, help="Records per generation batch (>= 1).")
    parser.add_argument("--max_new_tokens", type=int, default=512)
    parser.add_argument("--temperature", type=float, default=0.0, help="0 = greedy decoding; must be >= 0.")
    parser.add_argument(
        "--num_samples", type=int, default=1, help="Completions per record (needs temperature)."
    )
    parser.add_argument(
        "--malformed",
        default="skip",
        choices=MALFORMED_MODES,
        help="A record whose gold answer cannot be read: skip and count it, or stop naming it.",
    )
    parser.add_argument(
        "--answer_format",
        default=None,
        choices=ANSWER_FORMATS,
        help="Where the final answer stands: the answer tags, or (boxed, R1 style) the answer tags if any, else "
        "the last \\boxed{} after the reasoning (default: each record's answer_format field, else tags).",
    )
    parser.add_argument("--output_dir", default=None, help="Where predictions.jsonl and metrics.json go.")
    parser.add_argument("--trust_remote_code", action="store_true")
    _add_tag_flags(parser)
    _add_processor_flags(parser)
    namespace = parser.parse_args(argv)
    processor_options, tags = _processor_options(namespace), _tags(namespace)
    skip = {*_processor_flag_names(), *_tag_flag_names()}
    args = {k: v for k, v in vars(namespace).items() if k not in skip}
    evaluate(**args, tags=tags, processor_options=processor_options)


def _compare(argv: list[str]) -> None:
    from scale_sft.evaluation.compare import compare

    parser = argparse.ArgumentParser(prog="scale-sft compare", description="Evaluation runs side by side.")
    parser.add_argument("runs", nargs="+", help="Directories written by `scale-sft eval --output_dir`.")
    parser.add_argument("--output", default=None, help="PNG chart to write (a .txt table is written beside).")
    args = parser.parse_args(argv)
    compare(args.runs, args.output)


def _convert(argv: list[str]) -> None:
    from scale_sft.data.converters import SOURCES, convert_and_save

    parser = argparse.ArgumentParser(
        prog="scale-sft convert",
        description="Convert Vision-R1 cold-start, ScienceQA, IconQA or GRPO data (R1-V, Vision-R1 RL) to "
        "<think>/<answer> records.",
    )
    parser.add_argument("--source", required=True, choices=SOURCES)
    parser.add_argument(
        "--input", required=True, help=".json/.jsonl file, save_to_disk directory or hub name."
    )
    parser.add_argument(
        "--split",
        default="train",
        help="Split to read (a JSON/JSONL file: NAME.SPLIT.jsonl beside it, records' `split` field, or the "
        "split its name ends with); also the split name written to --out.",
    )
    parser.add_argument("--subset", default=None, help="Hub dataset configuration name (e.g. ScienceQA-IMG).")
    parser.add_argument(
        "--image_root",
        default=None,
        help="Folder relative image paths are looked up in first (then the input's folder).",
    )
    parser.add_argument(
        "--allow_outside_images",
        action="store_true",
        help="Also read absolute image paths and paths leading out of the input's folder and --image_root "
        "(off: such records are skipped and counted, so a shared dataset never embeds other files).",
    )
    parser.add_argument(
        "--keep_source_answer",
        action="store_true",
        help="vision_r1: keep the source's answer wording in the target (<answer>Final Answer:B</answer>); "
        "the stored gold answer is normalised either way.",
    )
    parser.add_argument("--out", required=True, help="Output directory (save_to_disk).")
    _add_tag_flags(parser)
    args = parser.parse_args(argv)
    convert_and_save(
        args.source,
        args.input,
        args.out,
        args.split,
        args.subset,
        args.image_root,
        allow_outside_images=args.allow_outside_images,
        keep_source_answer=args.keep_source_answer,
        tags=_tags(args),
    )


def _tag_flag_names() -> list[str]:
    from scale_sft.tags import DEFAULT_TAGS

    return [f"{name}_tag" for name in DEFAULT_TAGS.__dict__]


def _add_tag_flags(parser: argparse.ArgumentParser) -> None:
    """The tag flags ``train``/``grpo`` take (``--think_start_tag`` ...), for the other commands."""
    from scale_sft.tags import DEFAULT_TAGS

    for name, default in DEFAULT_TAGS.__dict__.items():
        parser.add_argument(f"--{name}_tag", default=default, help=f"Tag string (default {default}).")


def _tags(args: argparse.Namespace):
    from scale_sft.tags import DEFAULT_TAGS, CotTags

    return CotTags(**{name: getattr(args, f"{name}_tag") for name in DEFAULT_TAGS.__dict__})


def _add_processor_flags(parser: argparse.ArgumentParser) -> None:
    """``ProcessorArguments``' flags (the ones ``train``/``grpo`` take) on an argparse command."""
    import dataclasses

    from scale_sft.models.processor import ProcessorArguments

    types = {"min_pixels": int, "max_pixels": int, "do_pan_and_scan": _boolean, "processor_kwargs": str}
    for f in dataclasses.fields(ProcessorArguments):
        parser.add_argument(f"--{f.name}", type=types[f.name], default=None, help=f.metadata["help"])


def _processor_flag_names() -> list[str]:
    import dataclasses

    from scale_sft.models.processor import ProcessorArguments

    return [f.name for f in dataclasses.fields(ProcessorArguments)]


def _processor_options(args: argparse.Namespace) -> dict:
    from scale_sft.models.processor import ProcessorArguments

    return ProcessorArguments(
        **{name: getattr(args, name) for name in _processor_flag_names()}
    ).processor_options()


def _boolean(value: str) -> bool:
    if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
        raise argparse.ArgumentTypeError(f"expected true or false, got {value!r}")
    return value.lower() in ("true", "1", "yes")


def _max_length(value: str) -> int | None:
    return None if value.lower() in ("none", "null") else int(value)


def _inspect_data(argv: list[str]) -> None:
    from scale_sft.sft.inspect import inspect_data

    parser = argparse.ArgumentParser(
        prog="scale-sft inspect-data",
        description="Count skipped records and THINK/ANSWER tokens per record under a model's processor.",
    )
    parser.add_argument(
        "--dataset", required=True, help="save_to_disk directory, JSON/JSONL file or hub name."
    )
    parser.add_argument("--model", required=True, help="Model (hub name or path) whose processor to use.")
    parser.add_argument("--split", default="train")
    parser.add_argument("--out", default=None, help="Directory for token_histogram.png and token_stats.json.")
    parser.add_argument(
        "--max_length",
        type=_max_length,
        default=1024,
        help="As in train: longer records are skipped ('none').",
    )
    parser.add_argument("--limit", type=int, default=None, help="Inspect only the first N records.")
    parser.add_argument("--batch_size", type=int, default=16)
    parser.add_argument("--trust_remote_code", action="store_true")
    _add_tag_flags(parser)
    _add_processor_flags(parser)
    args = parser.parse_args(argv)
    inspect_data(
        args.dataset,
        args.model,
        args.split,
        args.out,
        args.max_length,
        args.limit,
        tags=_tags(args),
        batch_size=args.batch_size,
        trust_remote_code=args.trust_remote_code,
        processor_options=_processor_options(args),
    )


COMMANDS: dict[str, tuple[Callable[[list[str]], None], str]] = {
    "train": (_train, "SCALe-SFT or vanilla SFT on a chain-of-thought dataset"),
    "grpo": (_grpo, "GRPO continuation from a vanilla-SFT or SCALe-SFT checkpoint"),
    "make-tiny-model": (_make_tiny_model, "build a tiny random VLM with a locally trained tokenizer"),
    "make-data": (_make_data, "write the synthetic visual-reasoning dataset"),
    "eval": (_eval, "generate on a benchmark and score accuracy, malformed, length, consistency, loops"),
    "compare": (_compare, "print evaluation runs side by side and chart them"),
    "demo": (_demo, "build the tiny model and data, train the four pipelines, compare"),
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
