"""Loading chain-of-thought datasets and filtering them before training, with every skip counted.

``load_cot_dataset`` takes a local ``save_to_disk`` directory, a JSON/JSONL file whose records name image
files (relative to the file), or a hub dataset name. ``prepare_dataset`` then removes, and counts, every record
that would train wrongly: malformed tags, missing or unreadable images, or a sample longer than
``max_length`` (which would lose its answer to truncation). With ``malformed="error"`` the first one raises.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import datasets
from PIL import Image
from tqdm.auto import tqdm

from scale_sft.data.format import render_sample
from scale_sft.segments import MalformedSampleError
from scale_sft.tags import DEFAULT_TAGS, CotTags

logger = logging.getLogger(__name__)


class DataError(ValueError):
    """A record that cannot be trained on (raised with ``malformed="error"``)."""


def _read_json_records(path: Path) -> list[dict]:
    text = path.read_text(encoding="utf-8")
    if path.suffix == ".jsonl":
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    data = json.loads(text)
    if not isinstance(data, list):
        raise DataError(f"{path}: expected a JSON list of records.")
    return data


def _resolve_images(record: dict, root: Path) -> dict:
    """Turn image file names (``images`` list or single ``image``) into absolute paths, kept as strings."""
    names = record.get("images", record.get("image", []))
    names = [names] if isinstance(names, str) else list(names or [])
    record = {k: v for k, v in record.items() if k != "image"}
    record["images"] = [str(Path(name) if Path(name).is_absolute() else root / name) for name in names]
    return record


def load_cot_dataset(path_or_name: str, split: str = "train") -> datasets.Dataset:
    """Load ``split`` of a local ``save_to_disk`` directory, a JSON/JSONL file, or a hub dataset.

    JSON records hold ``messages`` and ``images`` (file names relative to the JSON file); images stay paths
    here and are opened, and checked, by ``prepare_dataset``.
    """
    path = Path(path_or_name)
    if path.is_dir():
        loaded = datasets.load_from_disk(str(path))
        if isinstance(loaded, datasets.DatasetDict):
            if split not in loaded:
                raise DataError(f"{path} has splits {list(loaded)}, not {split!r}.")
            return loaded[split]
        return loaded
    if path.suffix in (".json", ".jsonl"):
        if not path.is_file():
            raise FileNotFoundError(f"No dataset file at {path}.")
        records = [_resolve_images(r, path.parent) for r in _read_json_records(path)]
        return datasets.Dataset.from_list(records)
    if path.exists() or path_or_name.startswith((".", "/")):
        raise DataError(f"{path_or_name}: expected a save_to_disk directory or a .json/.jsonl file.")
    return datasets.load_dataset(path_or_name, split=split)


@dataclass
class DataReport:
    """What ``prepare_dataset`` kept and why it skipped the rest."""

    total: int = 0
    kept: int = 0
    direct_answer: int = 0
    skipped: Counter = field(default_factory=Counter)

    def summary(self) -> str:
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(self.skipped.items())) or "none"
        return (
            f"{self.kept}/{self.total} records kept ({self.direct_answer} direct answers without reasoning); "
            f"skipped: {reasons}"
        )

    def to_dict(self) -> dict:
        return {
            "total": self.total,
            "kept": self.kept,
            "direct_answer": self.direct_answer,
            "skipped": dict(self.skipped),
        }


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
    if getattr(kept.features.get("images"), "feature", None) == datasets.Value("string"):  # JSON: file paths
        kept = kept.cast_column("images", datasets.List(datasets.Image()))
    return kept, report
