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
from collections.abc import Callable
from pathlib import Path

import datasets

from scale_sft.data.converters.common import ImageFiles, Unconvertible
from scale_sft.data.converters.iconqa import convert_iconqa
from scale_sft.data.converters.rl_sources import convert_r1v, convert_vision_r1_rl
from scale_sft.data.converters.scienceqa import convert_scienceqa
from scale_sft.data.converters.vision_r1 import convert_vision_r1
from scale_sft.data.format import record_features
from scale_sft.data.loading import DataReport, read_records
from scale_sft.tags import DEFAULT_TAGS, CotTags

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
    "ImageFiles",
    "Unconvertible",
    "convert",
    "convert_and_save",
    "convert_loaded",
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
    records, folder = read_records(path_or_name, split, subset)
    return convert_loaded(
        source, records, folder, split, image_root, tags, allow_outside_images, keep_source_answer
    )


def convert_loaded(
    source: str,
    records: list | datasets.Dataset,
    folder: Path | None = None,
    split: str = "train",
    image_root: str | None = None,
    tags: CotTags = DEFAULT_TAGS,
    allow_outside_images: bool = False,
    keep_source_answer: bool = False,
) -> tuple[datasets.Dataset, DataReport]:
    """``convert`` of records already read (``folder``: where relative image paths are looked up, None for
    records whose images are decoded, as a hub dataset's are); raises if nothing converts."""
    if source not in CONVERTERS:
        raise ValueError(f"Unknown source {source!r}; choose one of {SOURCES}.")
    if keep_source_answer and source != "vision_r1":
        raise ValueError("keep_source_answer applies to the vision_r1 source only.")
    kwargs: dict = {"split": split} if source in SPLIT_AWARE else {}
    if keep_source_answer:
        kwargs["keep_source_answer"] = True
    files = ImageFiles.of(folder, image_root, allow_outside_images)
    converted, report = CONVERTERS[source](records, tags=tags, images=files, **kwargs)
    if not converted:
        raise ValueError(f"No record converted: {report.summary()}")
    return to_dataset(converted), report


def convert_and_save(
    source: str,
    path_or_name: str,
    out: str | Path,
    split: str = "train",
    subset: str | None = None,
    image_root: str | None = None,
    **options,
) -> DataReport:
    """``convert`` (``options``: its keyword arguments) and ``save_to_disk`` as a one-split ``DatasetDict``,
    with ``conversion_report.json`` beside it."""
    dataset, report = convert(source, path_or_name, split, subset, image_root, **options)
    datasets.DatasetDict({split: dataset}).save_to_disk(str(out))
    Path(out, "conversion_report.json").write_text(json.dumps(report.to_dict(), indent=2))
    print(report.summary())
    print(f"Saved split {split!r} ({len(dataset)} records) to {out}")
    return report
