"""``scale-sft``: the command line. It only parses and dispatches.

A command is a function whose parameters are config dataclasses, defined beside the code they configure (e.g.
``train(script_args: TrainArguments, config: ScaleSFTConfig, model_args: ModelConfig)``); ``COMMANDS`` is the
one list of commands. Every command reads its dataclasses the same way, through TRL's ``TrlParser``:
``--config run.yaml`` plus flags (command line over YAML), each flag's type, default, ``choices`` and help
taken from its field, so ``scale-sft COMMAND --help`` is generated from the documented fields.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import types
import typing
from collections.abc import Callable
from dataclasses import Field, dataclass

from trl import TrlParser

YAML_NOTE = "Any flag can also come from a YAML file: --config FILE.yaml (flags on the command line win)."


class CommandParser(TrlParser):
    """``TrlParser`` with two field options the commands need beyond HF's: a field whose metadata holds
    ``"positional": True`` is a positional argument (one or more values), and a number field that may be None
    (``int | None``) also takes ``none``/``null`` for None."""

    @staticmethod
    def _parse_dataclass_field(parser: argparse.ArgumentParser, field: Field) -> None:
        if field.metadata.get("positional"):
            parser.add_argument(field.name, nargs="+", help=field.metadata["help"])
            return
        optional_number = _optional_number(field.type)  # read first: HF narrows `field.type` in place
        TrlParser._parse_dataclass_field(parser, field)
        if optional_number is not None:
            action = next(a for a in parser._actions if a.dest == field.name)
            action.type = _none_or(optional_number)


def _optional_number(hint) -> type | None:
    """``int`` or ``float`` for a hint ``int | None`` / ``float | None``, else None."""
    if typing.get_origin(hint) not in (typing.Union, types.UnionType):
        return None
    kinds = [a for a in typing.get_args(hint) if a is not type(None)]
    return kinds[0] if len(kinds) == 1 and kinds[0] in (int, float) else None


def _none_or(kind: type) -> Callable[[str], object]:
    def parse(value: str):
        return None if value.lower() in ("none", "null") else kind(value)

    parse.__name__ = kind.__name__  # argparse names the type in its error messages
    return parse


@dataclass(frozen=True)
class Command:
    """A command: its one-line summary and its function (``module:name``, imported on use, so a light command
    does not load the trainers)."""

    summary: str
    target: str

    def function(self) -> Callable[..., object]:
        module, name = self.target.split(":")
        return getattr(importlib.import_module(module), name)

    def dataclasses(self) -> tuple[type, ...]:
        """The function's parameter types, in order: the dataclasses its command line is made of."""
        hints = typing.get_type_hints(self.function())
        hints.pop("return", None)
        return tuple(hints.values())


COMMANDS: dict[str, Command] = {
    "train": Command("SCALe-SFT or vanilla SFT on a chain-of-thought dataset", "scale_sft.sft.recipe:train"),
    "grpo": Command(
        "GRPO continuation from a vanilla-SFT or SCALe-SFT checkpoint", "scale_sft.grpo.recipe:grpo"
    ),
    "make-tiny-model": Command(
        "build a tiny random model (a VLM, or a text-only LM) with a locally trained tokenizer",
        "scale_sft.models.tiny:make_tiny_model_command",
    ),
    "make-data": Command(
        "write a synthetic chain-of-thought dataset (image grids for VLMs, or R1-style text tasks)",
        "scale_sft.data.make_data:make_data_command",
    ),
    "eval": Command(
        "generate on a benchmark and score accuracy, malformed, length, consistency, loops",
        "scale_sft.evaluation.runner:eval_command",
    ),
    "compare": Command(
        "print evaluation runs side by side and chart them", "scale_sft.evaluation.compare:compare_command"
    ),
    "demo": Command(
        "build the tiny model and data, train the four pipelines, compare", "scale_sft.demo:demo_command"
    ),
    "convert": Command(
        "convert Vision-R1 / ScienceQA / IconQA / R1-V data to <think>/<answer> records",
        "scale_sft.data.converters:convert_command",
    ),
    "inspect-data": Command(
        "count skipped records and THINK/ANSWER tokens per record of a dataset",
        "scale_sft.sft.inspect:inspect_data_command",
    ),
}


def command_parser(name: str) -> CommandParser:
    """The parser of command ``name``, made of its function's dataclasses."""
    command = COMMANDS[name]
    return CommandParser(
        command.dataclasses(), prog=f"scale-sft {name}", description=command.summary, epilog=YAML_NOTE
    )


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] not in COMMANDS:
        lines = "\n".join(f"  {name:<16} {command.summary}" for name, command in COMMANDS.items())
        print(f"usage: scale-sft COMMAND [flags]\n\ncommands:\n{lines}", file=sys.stderr)
        sys.exit(0 if argv and argv[0] in ("-h", "--help") else 2)
    name, args = argv[0], argv[1:]
    COMMANDS[name].function()(*command_parser(name).parse_args_and_config(args=args))


if __name__ == "__main__":
    main()
