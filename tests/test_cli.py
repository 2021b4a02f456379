"""The command line: every command's flags come from documented dataclass fields, read the same way (YAML +
flags), and the argument dataclasses agree with the Python functions they configure."""

from __future__ import annotations

import dataclasses
import inspect
import re
import shlex
from pathlib import Path

import datasets
import pytest

from scale_sft.cli import COMMANDS, command_parser, main
from scale_sft.evaluation.runner import EvalArguments, evaluate
from scale_sft.sft.inspect import InspectDataArguments, inspect_data

ROOT = Path(__file__).resolve().parents[1]


def _listed_options(help_text: str) -> set[str]:
    """The option strings ``--help`` lists: the first column of each option line of argparse's output."""
    options = set()
    for line in help_text.splitlines():
        match = re.match(r"^  (-\S.*?)(?:\s{2,}|$)", line)
        if match:
            column = re.sub(r"\{[^}]*\}", "", match.group(1))  # choices, e.g. {skip,error}
            options |= set(re.findall(r"(?:^|(?<=, ))(--?[\w-]+)", column))
    return options - {"-h", "--help"}


@pytest.mark.parametrize("name", list(COMMANDS))
def test_help_lists_only_documented_dataclass_fields(name, capsys):
    with pytest.raises(SystemExit) as exit_:
        main([name, "--help"])
    assert exit_.value.code == 0
    fields = {f.name: f for cls in COMMANDS[name].dataclasses() for f in dataclasses.fields(cls) if f.init}
    listed = _listed_options(capsys.readouterr().out)
    assert listed, f"{name} --help lists no option"
    for option in listed:
        key = option.lstrip("-").replace("-", "_")
        if key not in fields and key.startswith("no_"):  # the complement of a flag that defaults to True
            key = key.removeprefix("no_")
        assert key in fields, f"{name}: {option} is not a field of {COMMANDS[name].dataclasses()}"
        assert fields[key].metadata.get("help"), f"{name}: field {key} has no help"
    flags = {o.lstrip("-").replace("-", "_") for o in listed}
    positional = {k for k, f in fields.items() if f.metadata.get("positional")}
    assert set(fields) - positional <= flags, f"{name}: fields without a flag"


def test_the_registry_is_the_one_list_of_commands(capsys):
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    listed = re.findall(r"^  (\S+)", capsys.readouterr().err, re.MULTILINE)
    assert listed == list(COMMANDS)
    sources = (ROOT / "src" / "scale_sft").rglob("*.py")
    hand_made = [p.name for p in sources if "ArgumentParser(" in p.read_text()]
    assert hand_made == [], "a command line outside the registry's CommandParser"
    documented = re.findall(r"^## `scale-sft (\S+)`", (ROOT / "docs" / "CLI.md").read_text(), re.MULTILINE)
    assert documented == list(COMMANDS)


@pytest.mark.parametrize(
    ("arguments", "function"), [(EvalArguments, evaluate), (InspectDataArguments, inspect_data)]
)
def test_argument_defaults_are_the_functions_defaults(arguments, function):
    """The dataclass is passed field for parameter, so each field must be a parameter, with the same default."""
    parameters = inspect.signature(function).parameters
    for f in dataclasses.fields(arguments):
        assert f.name in parameters, (
            f"{arguments.__name__}.{f.name} is not a parameter of {function.__name__}"
        )
        expected = parameters[f.name].default
        got = inspect.Parameter.empty if f.default is dataclasses.MISSING else f.default
        assert got == expected, (
            f"{f.name}: {got!r} in {arguments.__name__}, {expected!r} in {function.__name__}"
        )


def test_optional_numbers_take_none_and_required_fields_are_required(capsys):
    parser = command_parser("inspect-data")
    base = ["--dataset", "d", "--model", "m"]
    for value, expected in (("none", None), ("NULL", None), ("512", 512)):
        (args, *_) = parser.parse_args_and_config([*base, "--max_length", value])
        assert args.max_length == expected
    for bad in (["--dataset", "d"], [*base, "--max_length", "long"], [*base, "--batch_size", "none"]):
        with pytest.raises(SystemExit):
            command_parser("inspect-data").parse_args_and_config(bad)
    assert "invalid int value: 'long'" in capsys.readouterr().err


def test_flags_keep_their_forms(tmp_path):
    (model, tags) = command_parser("make-tiny-model").parse_args_and_config(
        ["--out", "m", "--special_tags", "--think_start_tag", "<r>"]
    )
    assert (
        model.special_tags is True and tags.tags.think_start == "<r>" and tags.tags.answer_start == "<answer>"
    )
    (args,) = command_parser("compare").parse_args_and_config(["a", "b", "--output", "c.png"])
    assert args.runs == ["a", "b"] and args.output == "c.png"
    (_, _, processor) = command_parser("eval").parse_args_and_config(
        ["--model", "m", "--do_pan_and_scan", "no"]
    )
    assert processor.processor_options() == {"do_pan_and_scan": False}


def test_yaml_config_with_flags_over_it(tmp_path):
    config = tmp_path / "data.yaml"
    config.write_text(f"out: {tmp_path / 'data'}\nn: 4\nn_test: 3\ntask: text\n")
    main(["make-data", "--config", str(config), "--n", "2"])
    saved = datasets.load_from_disk(str(tmp_path / "data"))
    assert (saved["train"].num_rows, saved["test"].num_rows) == (2, 3)
    assert "images" not in saved["train"].column_names  # the text task, from the YAML


def test_the_reference_page_samples_parse():
    """Each sample line of docs/CLI.md parses with its command's flags (all but the YAML one, which needs a file)."""
    lines = re.findall(
        r"^scale-sft (\S+) (.*?)(?:\s+#.*)?$", (ROOT / "docs" / "CLI.md").read_text(), re.MULTILINE
    )
    samples = [(name, shlex.split(rest)) for name, rest in lines if "--config" not in rest]
    assert {name for name, _ in samples} == set(COMMANDS)
    for name, args in samples:
        command_parser(name).parse_args_and_config(args)
