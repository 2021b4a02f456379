"""Checking records before training: every record that would train wrongly is removed and counted.

``prepare_dataset`` removes, and counts by reason, malformed tags, missing or unreadable images, and samples
longer than ``max_length`` (which would lose their answer to truncation). With ``malformed="error"`` the
first one raises ``DataError`` naming the record.
"""

from __future__ import annotations

import logging

import datasets
from PIL import Image
from tqdm.auto import tqdm

from scale_sft.data.format import is_text_only, render_sample
from scale_sft.data.loading import DataError, DataReport
from scale_sft.segments import MalformedSampleError
from scale_sft.tags import DEFAULT_TAGS, CotTags

logger = logging.getLogger(__name__)


def _open_images(images: list) -> list[Image.Image]:
    """PIL images from paths or already-decoded images; raises ``FileNotFoundError`` / ``OSError``."""
    opened = []
    for image in images:
        if isinstance(image, str):
            with Image.open(image) as handle:
                image = handle.convert("RGB")  # forces a full decode, so a truncated file fails here
        opened.append(image)
    return opened


def _check_record(record: dict, processor, tags: CotTags, max_length: int | None) -> tuple[str | None, bool]:
    """The reason to skip ``record`` (None to keep it) and whether it is a direct answer."""
    messages = record.get("messages")
    if not messages or messages[-1].get("role") != "assistant":
        return "no assistant target", False
    try:
        images = _open_images(record.get("images") or [])
    except FileNotFoundError:
        return "missing image", False
    except OSError:
        return "unreadable image", False
    n_placeholders = sum(
        1
        for m in messages
        if not isinstance(m["content"], str)
        for p in m["content"]
        if p.get("type") == "image"
    )
    if n_placeholders != len(images):
        return "image count mismatch", False
    if images and is_text_only(processor):
        return "images for a text-only model", False
    try:
        text, spans = render_sample(processor, messages, tags)
    except MalformedSampleError as err:
        return f"malformed: {err}", False
    if max_length is not None:
        length = len(processor(images=images or None, text=[text], add_special_tokens=False)["input_ids"][0])
        if length > max_length:
            return "longer than max_length", False
    return None, spans.answer_from_end == spans.completion_from_end


def prepare_dataset(
    dataset: datasets.Dataset,
    processor,
    tags: CotTags = DEFAULT_TAGS,
    malformed: str = "skip",
    max_length: int | None = None,
) -> tuple[datasets.Dataset, DataReport]:
    """Keep the records that train correctly; count (or, with ``malformed="error"``, raise on) the others."""
    report = DataReport(total=len(dataset))
    keep = []
    for index in tqdm(range(len(dataset)), desc="Checking records", disable=len(dataset) < 1000):
        record: dict = {}
        try:
            record = dataset[index]
        except OSError:  # an image column that fails to decode
            reason, direct = "unreadable image", False
        else:
            reason, direct = _check_record(record, processor, tags, max_length)
        if reason is None:
            keep.append(index)
            report.direct_answer += direct
            continue
        if malformed == "error":
            raise DataError(f"Record {index} (id {record.get('id', 'n/a')}): {reason}.")
        report.skipped[reason] += 1
    report.kept = len(keep)
    if report.skipped:
        logger.warning("Skipped %d records: %s", sum(report.skipped.values()), report.summary())
    if not keep:
        raise DataError(f"No trainable records left: {report.summary()}")
    kept = dataset if len(keep) == len(dataset) else dataset.select(keep)
    if is_text_only(processor):  # TRL takes a dataset with an `images` column (even empty) for a vision one
        kept = kept.remove_columns([c for c in ("image", "images") if c in kept.column_names])
    if getattr(kept.features.get("images"), "feature", None) == datasets.Value("string"):  # JSON: file paths
        kept = kept.cast_column("images", datasets.List(datasets.Image()))
    return kept, report
