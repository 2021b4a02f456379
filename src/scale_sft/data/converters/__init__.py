"""Converters from public schemas to the project's conversational ``<think>``/``<answer>`` records.

One module per source, each documenting its rules: ``vision_r1`` (Vision-R1 cold-start, both published
layouts), ``scienceqa`` (image split), ``iconqa`` (LMMs-Eval schema and the original release), ``rl_sources``
(GRPO data: R1-V and Vision-R1's RL set); ``answers`` holds the heuristics that read a source's final answer,
``common`` the conversion loop and the image rules (files only from the input's folder and ``image_root``,
each verified to be an image).

Every converter takes an iterable of source records and returns ``(records, DataReport)``: the converted
records (see ``scale_sft.data.format``) and the count of source records it could not convert, by reason. No
record is dropped without being counted. ``convert`` reads a source with ``scale_sft.data.loading.read_records``
(the same reader, and split rules, as training data) and returns a ``datasets.Dataset`` whose images are an
``Image`` feature (``save_to_disk`` then embeds the bytes).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import datasets

from scale_sft.data.converters.common import ImageFiles, Unconvertible
from scale_sft.data.converters.iconqa import convert_iconqa
from scale_sft.data.converters.rl_sources import convert_r1v, convert_vision_r1_rl
from scale_sft.data.converters.scienceqa import convert_scienceqa
from scale_sft.data.converters.vision_r1 import convert_vision_r1
from scale_sft.data.format import record_features
from scale_sft.data.loading import DataReport, read_records
from scale_sft.tags import DEFAULT_TAGS, CotTags, TagArguments

CONVERTERS: dict[str, Callable[..., tuple[list[dict], DataReport]]] = {
    "vision_r1": convert_vision_r1,
    "scienceqa": convert_scienceqa,
    "iconqa": convert_iconqa,
    "r1v": convert_r1v,
    "vision_r1_rl": convert_vision_r1_rl,
}
SOURCES = tuple(CONVERTERS)
SPLIT_AWARE = ("scienceqa", "iconqa")  # sources whose ids or image folders name the split

FEATURES = record_features("source", "category")

__all__ = [
    "CONVERTERS",
    "FEATURES",
    "SOURCES",
    "ConvertArguments",
    "ImageFiles",
    "Unconvertible",
    "convert",
    "convert_and_save",
    "convert_command",
    "to_dataset",
]


def to_dataset(records: list[dict]) -> datasets.Dataset:
    """The converted records as a ``Dataset`` with images as an ``Image`` feature."""
    return datasets.Dataset.from_list(records, features=FEATURES)


def convert(
    source: str,
    path_or_name: str,
    split: str = "train",
    subset: str | None = None,
    image_root: str | None = None,
    tags: CotTags = DEFAULT_TAGS,
    allow_outside_images: bool = False,
    keep_source_answer: bool = False,
) -> tuple[datasets.Dataset, DataReport]:
    """Read ``split`` of ``path_or_name`` and convert it from ``source``'s schema; raises if nothing converts.

    Images are read only inside the input's folder and ``image_root`` unless ``allow_outside_images``;
    ``keep_source_answer`` (``vision_r1`` only) keeps the source's answer wording in the target.
    """
    if source not in CONVERTERS:
        raise ValueError(f"Unknown source {source!r}; choose one of {SOURCES}.")
    if keep_source_answer and source != "vision_r1":
        raise ValueError("keep_source_answer applies to the vision_r1 source only.")
    records, folder = read_records(path_or_name, split, subset)
    kwargs: dict = {"split": split} if source in SPLIT_AWARE else {}
    if keep_source_answer:
        kwargs["keep_source_answer"] = True
    files = ImageFiles.of(folder, image_root, allow_outside_images)
    converted, report = CONVERTERS[source](records, tags=tags, images=files, **kwargs)
    if not converted:
        raise ValueError(f"No record converted: {report.summary()}")
    return to_dataset(converted), report


REPORT_FILE = "conversion_report.json"
SPLITS_FILE = "dataset_dict.json"  # the split list `datasets.DatasetDict.save_to_disk` writes


def previous_reports(out: Path, overwrite: bool = False) -> dict:
    """The per-split reports of a previous conversion into ``out``, which new splits join (empty when ``out``
    is absent or empty, or with ``overwrite``, which removes its contents). Any other non-empty ``out`` is
    refused, so a conversion never writes among files it does not own."""
    if out.exists() and not out.is_dir():
        raise FileExistsError(f"--out {out} is a file, not a folder.")
    entries = sorted(p.name for p in out.iterdir()) if out.is_dir() else []
    if not entries:
        return {}
    if overwrite:
        shutil.rmtree(out)
        return {}
    splits = (
        json.loads(Path(out, SPLITS_FILE).read_text())["splits"] if (out / SPLITS_FILE).is_file() else None
    )
    if (
        splits is None
        or not (out / REPORT_FILE).is_file()
        or set(entries) - {SPLITS_FILE, REPORT_FILE, *splits}
    ):
        raise FileExistsError(
            f"--out {out} is not empty ({', '.join(entries[:4])}{', ...' if len(entries) > 4 else ''}) and is "
            "not the output of an earlier conversion: choose another --out, or pass --overwrite to replace "
            "its contents."
        )
    reports = json.loads((out / REPORT_FILE).read_text())
    if (
        "total" in reports and len(splits) == 1
    ):  # one split's report, as written before reports were per split
        reports = {splits[0]: reports}
    return {split: reports.get(split) for split in splits}


def convert_and_save(
    source: str,
    path_or_name: str,
    out: str | Path,
    split: str = "train",
    subset: str | None = None,
    image_root: str | None = None,
    overwrite: bool = False,
    **options,
) -> DataReport:
    """``convert`` (``options``: its keyword arguments) and save ``split`` to ``out`` as a split of a
    ``DatasetDict`` (``load_from_disk`` reads it), with the reports of every split in ``conversion_report.json``.

    The splits of an earlier conversion into ``out`` stay listed (``split`` itself is replaced); a folder
    holding anything else is refused unless ``overwrite``, which replaces its contents.
    """
    out = Path(out)
    reports = previous_reports(out, overwrite)
    dataset, report = convert(source, path_or_name, split, subset, image_root, **options)
    if (out / split).exists():
        shutil.rmtree(out / split)
    out.mkdir(parents=True, exist_ok=True)
    dataset.save_to_disk(str(out / split))
    reports[split] = report.to_dict()
    (out / SPLITS_FILE).write_text(json.dumps({"splits": list(reports)}))
    (out / REPORT_FILE).write_text(json.dumps(reports, indent=2))
    print(report.summary())
    print(f"Saved split {split!r} ({len(dataset)} records) to {out}")
    return report


@dataclass
class ConvertArguments:
    """``scale-sft convert``: which source schema, read from where, written where (the tags the records are
    written in: ``TagArguments``; the sources themselves use the default tags)."""

    source: str = field(metadata={"help": "Schema of the input.", "choices": list(SOURCES)})
    input: str = field(metadata={"help": ".json/.jsonl file, save_to_disk directory or hub name."})
    out: str = field(
        metadata={"help": "Output directory (save_to_disk); the splits of an earlier conversion there are kept."}
    )
    split: str = field(
        default="train",
        metadata={
            "help": "Split to read (a JSON/JSONL file: NAME.SPLIT.jsonl beside it, records' `split` field, or the "
            "split its name ends with); also the split name written to --out."
        },
    )
    subset: str | None = field(
        default=None, metadata={"help": "Hub dataset configuration name (e.g. ScienceQA-IMG)."}
    )
    image_root: str | None = field(
        default=None,
        metadata={"help": "Folder relative image paths are looked up in first (then the input's folder)."},
    )
    allow_outside_images: bool = field(
        default=False,
        metadata={
            "help": "Also read absolute image paths and paths leading out of the input's folder and --image_root "
            "(off: such records are skipped and counted, so a shared dataset never embeds other files)."
        },
    )
    keep_source_answer: bool = field(
        default=False,
        metadata={
            "help": "vision_r1: keep the source's answer wording in the target (<answer>Final Answer:B</answer>); "
            "the stored gold answer is normalised either way."
        },
    )
    overwrite: bool = field(
        default=False,
        metadata={"help": "Replace the contents of a non-empty --out that is not an earlier conversion's output."},
    )


def convert_command(args: ConvertArguments, tag_args: TagArguments) -> DataReport:
    """``scale-sft convert``: ``convert_and_save`` with the parsed settings."""
    return convert_and_save(
        args.source,
        args.input,
        args.out,
        args.split,
        args.subset,
        args.image_root,
        allow_outside_images=args.allow_outside_images,
        keep_source_answer=args.keep_source_answer,
        tags=tag_args.tags,
        overwrite=args.overwrite,
    )
